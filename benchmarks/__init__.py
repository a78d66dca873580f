"""Benchmarks: runnable scripts that print figures. See benchmarks/README.md."""
