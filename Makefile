.PHONY: run test setup lint bench

setup:
	@bash ops/bin/setup.sh

run: setup
	@bash ops/bin/run.sh

test: setup
	@bash ops/bin/test.sh

lint:
	.venv/bin/ruff check .

bench: setup
	.venv/bin/python benchmarks/run_all.py
