"""Benchmarks: each measures one claim and returns tables for docs/benchmarks.md (not tests)."""
