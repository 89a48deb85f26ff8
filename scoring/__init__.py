"""NEWS2 scoring as pure functions (no I/O, no clock)."""
