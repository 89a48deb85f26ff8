"""The scenario end-to-end tests' store: PostgreSQL, as deployed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from core.store import Store
from core.store.postgres import PostgresStore


@pytest.fixture
async def pg_store(postgres_dsn: str) -> AsyncIterator[Store]:
    store = PostgresStore(postgres_dsn)
    await store.open()
    yield store
    await store.close()
