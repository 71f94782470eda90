"""Benchmarks: they print their figures and are not timed tests (see DESIGN.md)."""
