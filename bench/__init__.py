"""Benchmarks for psa-chatops: ``make bench`` runs them all and rewrites BENCHMARKS.md."""
