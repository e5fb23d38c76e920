"""Benchmarks: `make bench` runs `python -m bench.throughput`, `bench.imports` and `bench.console_push`
from the project root."""
