"""Benchmarks: `make bench` runs `python -m bench.throughput` from the project root."""
