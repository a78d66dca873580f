#!/usr/bin/env bash
# The whole suite against the real PostGIS, pgRouting and Redis.
set -euo pipefail
cd "$(dirname "$0")/../.."
.venv/bin/ruff check .
# --create-db: a fresh test database each run, so a schema change never meets an old one.
exec .venv/bin/pytest --create-db -n 2 "$@"
