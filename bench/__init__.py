"""Benchmarks: each bench/bench_*.py prints its numbers and ratios against a peer tool."""
