"""Revision 0012 on a live database: a patient followed before it keeps their care team and open worklist item, has
no team task for it (tasks start with the next missed check-in), and a team can be added and followed afterwards."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command

from core.homecare import WorklistState
from core.outreach import OutreachState, PlanNote, Team
from core.store import Store, schema
from core.store.columns import json_text
from core.store.migrate import _config
from core.store.postgres import PostgresStore
from core.store.sqlite import SqliteStore
from core.types import CareTeamRole

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
_OLD_MEMBER = {"patient_id": "p-1", "member_id": "fact-vest", "role": "fact_team", "organisation": "UNN",
               "start_at": T0, "end_at": None}  # fmt: skip
_OLD_ITEM = {
    "item_id": "item-1", "site_id": "hjemme", "patient_id": "p-1", "kind": "inactive_patient", "vkp_code": "5.3",
    "summary": "Inactive patient: no measurement ever", "opened_at": T0, "state": "open", "missing_loinc": [],
}  # fmt: skip


def _at_0011_with_a_followed_patient(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0011")
        conn.execute(sa.insert(schema.care_team).values(_OLD_MEMBER))
        conn.execute(sa.insert(schema.worklist_items).values(_OLD_ITEM))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def store_at_0011(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "sqlite":
        path = tmp_path / "at-0011.sqlite3"
        _at_0011_with_a_followed_patient(sa.create_engine(f"sqlite:///{path}"))
        return SqliteStore(path)
    dsn: str = request.getfixturevalue("postgres_dsn")
    engine = sa.create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(dsn), json_serializer=json_text)
    _at_0011_with_a_followed_patient(engine)
    return PostgresStore(dsn)


async def test_a_patient_followed_before_0012_keeps_their_item_and_team_has_no_task_until_the_next(
    store_at_0011: Store,
) -> None:
    await store_at_0011.open()  # migrates to head
    try:
        (item,) = await store_at_0011.worklist("hjemme", states=[WorklistState.OPEN])
        assert item.item_id == "item-1"
        assert await store_at_0011.list_teams() == []
        team = Team("fact-vest", "FACT Vest", CareTeamRole.FACT_TEAM, "UNN", T0)
        await store_at_0011.add_team(team)
        assert await store_at_0011.team_patients("fact-vest", at=T0) == ["p-1"]  # its care-team row, from before
        assert await store_at_0011.outreach_tasks("fact-vest", states=list(OutreachState)) == []
        note = PlanNote("fact-vest", "p-1", "Depot Fridays", "nurse.ola", T0)
        await store_at_0011.add_plan_note(note)
        assert await store_at_0011.plan_notes("fact-vest", ["p-1"]) == {"p-1": note}
    finally:
        await store_at_0011.close()
