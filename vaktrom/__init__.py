"""Composition root: CLI, one-process mode, wiring."""
