"""The Alembic revisions build exactly the schema that `core/store/schema.py` declares, on both engines, so the
queries (written against the metadata) and the databases (made by the revisions) can never drift apart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from core.store.postgres import PostgresStore
from core.store.schema import metadata
from core.store.sqlite import SqliteStore

# Not part of the schema: Alembic's own table, and the version table of the release before Alembic.
_NOT_OURS = {"alembic_version", "schema_version"}

__all__ = ["schema_differences"]


def schema_differences(conn: sa.Connection) -> list[Any]:
    """What Alembic's autogenerate would change to make the database match the metadata (types included)."""

    def include(_obj: object, name: str | None, type_: str, *_: object) -> bool:
        return not (type_ == "table" and name in _NOT_OURS)

    compare_type = _different_affinity if conn.dialect.name == "sqlite" else True
    context = MigrationContext.configure(conn, opts={"include_object": include, "compare_type": compare_type})
    return list(compare_metadata(context, metadata))


def _affinity(declared: str) -> str:
    """SQLite's type affinity of a declared column type (https://sqlite.org/datatype3.html, section 3.1)."""
    declared = declared.upper()
    if "INT" in declared:
        return "INTEGER"
    if any(word in declared for word in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in declared or not declared:
        return "BLOB"
    if any(word in declared for word in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def _different_affinity(context: MigrationContext, _inspected: Any, _declared: Any, old: Any, new: Any) -> bool:
    # SQLite stores by affinity, not by the declared name: INTEGER and SMALLINT, or REAL and DOUBLE, are the same.
    dialect = context.dialect
    return _affinity(old.compile(dialect=dialect)) != _affinity(new.compile(dialect=dialect))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
async def opened(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    store: SqliteStore | PostgresStore
    if request.param == "sqlite":
        store = SqliteStore(tmp_path / "vaktrom.sqlite3")
    else:
        store = PostgresStore(request.getfixturevalue("postgres_dsn"))
    await store.open()
    yield store
    await store.close()


# Neither engine's reflection compares expression indexes: the next test checks the one we have by its definition.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
async def test_a_new_database_has_exactly_the_declared_schema(opened: SqliteStore | PostgresStore) -> None:
    assert await opened._read(schema_differences) == []


def _index_definition(conn: sa.Connection, name: str) -> str:
    if conn.dialect.name == "postgresql":
        query = "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
    else:
        query = "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name"
    return " ".join(str(conn.execute(sa.text(query), {"name": name}).scalar_one()).split()).lower()


async def test_one_unresolved_alert_per_patient_device_and_kind_is_a_partial_unique_index(
    opened: SqliteStore | PostgresStore,
) -> None:
    definition = await opened._read(lambda c: _index_definition(c, "alerts_one_unresolved"))
    assert definition.startswith("create unique index alerts_one_unresolved on")
    assert "coalesce(patient_id, ''" in definition and "coalesce(device_id, ''" in definition
    assert definition.endswith("where (state <> 'resolved'::text)") or definition.endswith("where state <> 'resolved'")
