"""Shared fixtures: throwaway PostgreSQL and Mosquitto instances live in tests/fixtures/ as plugins."""

from __future__ import annotations

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.mosquitto",
    "tests.fixtures.browser",
    "tests.fixtures.oidc",
]
