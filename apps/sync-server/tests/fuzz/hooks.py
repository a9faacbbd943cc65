"""Schemathesis hooks for tests/fuzz/run.py: (nothing yet)."""
