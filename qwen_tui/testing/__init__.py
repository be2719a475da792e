"""Builders of tiny real models for tests and benchmarks (random weights, real architecture)."""
