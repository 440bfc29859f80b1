"""Benchmarks of holistics-schedules against its bundled API sandbox: `python -m bench` (see README.md)."""
