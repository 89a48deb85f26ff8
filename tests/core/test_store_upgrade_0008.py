"""Revision 0008 on a live database: audit rows written before it keep every field (no patient, grant, address or
token id: those were not recorded), care-team rows stay, and from then on the log is append-only."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command

from core.store import Store
from core.store.columns import json_text
from core.store.migrate import _config
from core.store.postgres import PostgresStore
from core.store.sqlite import SqliteStore
from core.types import AuditEntry, CareTeamRole, Role

T0 = datetime(2025, 1, 6, 20, 0, tzinfo=UTC)
_OLD_AUDIT = "INSERT INTO audit_log (at, user_id, role, action, subject, detail) VALUES (:at, :u, :r, :a, :s, '')"
_OLD_TEAM = (
    "INSERT INTO care_team (patient_id, member_id, role, organisation, start_at) "
    "VALUES ('pat-1', 'dr-berg', 'gp', 'Legekontoret', :at)"
)


def _at_0007_with_rows(engine: sa.Engine) -> None:
    at = T0 if engine.dialect.name == "postgresql" else int(T0.timestamp() * 1_000_000)
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0007")
        conn.execute(sa.text(_OLD_AUDIT), {"at": at, "u": "nurse-1", "r": "nurse", "a": "read.patient", "s": "pat-1"})
        conn.execute(sa.text(_OLD_TEAM), {"at": at})
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def store_at_0007(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "sqlite":
        path = tmp_path / "at-0007.sqlite3"
        _at_0007_with_rows(sa.create_engine(f"sqlite:///{path}"))
        return SqliteStore(path)
    dsn: str = request.getfixturevalue("postgres_dsn")
    engine = sa.create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(dsn), json_serializer=json_text)
    _at_0007_with_rows(engine)
    return PostgresStore(dsn)


async def test_audit_and_care_team_rows_from_before_0008_stay_and_the_log_becomes_append_only(
    store_at_0007: Store,
) -> None:
    await store_at_0007.open()
    try:
        assert await store_at_0007.list_audit() == [AuditEntry(T0, "nurse-1", Role.NURSE, "read.patient", "pat-1")]
        assert await store_at_0007.team_grants("dr-berg", ["pat-1"], at=T0) == {"pat-1": CareTeamRole.GP}
        assert await store_at_0007.list_users() == []
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            await store_at_0007._write(lambda c: c.execute(sa.text("DELETE FROM audit_log")))  # type: ignore[attr-defined]
        assert len(await store_at_0007.list_audit()) == 1
    finally:
        await store_at_0007.close()
