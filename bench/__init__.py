"""Benchmarks: run one with ``python -m bench.<module>`` (see bench/README.md)."""
