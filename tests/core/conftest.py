"""The stores every storage test runs against: SQLite, and PostgreSQL when the integration marker is selected."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from core.store import Store
from core.store.postgres import PostgresStore
from core.store.sqlite import SqliteStore

StoreFactory = Callable[[], Awaitable[Store]]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    """Builds (unopened) stores that all share one storage: one file, or one fresh database."""
    if request.param == "sqlite":
        return lambda: SqliteStore(tmp_path / "vaktrom.sqlite3")
    dsn: str = request.getfixturevalue("postgres_dsn")
    return lambda: PostgresStore(dsn)


@pytest.fixture
async def open_store(make_store: Callable[[], Store]) -> AsyncIterator[StoreFactory]:
    """Opens another store on the same storage, as a second vaktrom process would; all are closed afterwards."""
    opened: list[Store] = []

    async def factory() -> Store:
        store = make_store()
        await store.open()
        opened.append(store)
        return store

    yield factory
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_store: StoreFactory) -> Store:
    return await open_store()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def sql_engine(request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    """A bare SQLAlchemy engine on each engine a store runs on (an empty database), for the query helpers' tests."""
    if request.param == "sqlite":
        engine = sa.create_engine("sqlite://")
    else:
        dsn: str = request.getfixturevalue("postgres_dsn")
        engine = sa.create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(dsn))
    yield engine
    engine.dispose()
