"""Builders of the local news sites that the crawler tests and benchmarks serve (import as ``sites``)."""
