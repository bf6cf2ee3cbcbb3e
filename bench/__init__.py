"""Benchmarks for psa-chatops: `make bench` (``.venv/bin/python bench/run_all.py``) runs them and writes BENCHMARKS.md."""
