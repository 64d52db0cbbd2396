"""The standing benchmarks of trio-runners (run them as scripts; see docs/benchmarks.md)."""
