"""Command-line tools that are not part of the library (run from the repo root: python -m scripts.NAME)."""
