"""Revision 0013 on a live database: worklist items raised before it keep their rows, show no colour, readings or
assignee, can still be closed, and personal thresholds can be set afterwards."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command

from core.homecare import WorklistKind, WorklistState
from core.store import Store, schema
from core.store.columns import json_text
from core.store.migrate import _config
from core.store.postgres import PostgresStore
from core.store.sqlite import SqliteStore
from core.thresholds import MeasurementThresholds, ThresholdBand, ThresholdSet, TriageColour
from core.types import Parameter

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
_OLD_ITEM = {
    "item_id": "item-1", "site_id": "hjemme", "patient_id": "p-1", "kind": "inactive_patient", "vkp_code": "5.3",
    "summary": "Inactive patient: no measurement ever", "opened_at": T0, "state": "open", "missing_loinc": [],
    "window_opens_at": None, "window_closes_at": None, "owner": None, "closed_at": None, "outcome": None,
}  # fmt: skip


def _at_0012_with_one_item(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0012")
        conn.execute(sa.insert(schema.worklist_items).values(_OLD_ITEM))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def store_at_0012(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "sqlite":
        path = tmp_path / "at-0012.sqlite3"
        _at_0012_with_one_item(sa.create_engine(f"sqlite:///{path}"))
        return SqliteStore(path)
    dsn: str = request.getfixturevalue("postgres_dsn")
    engine = sa.create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(dsn), json_serializer=json_text)
    _at_0012_with_one_item(engine)
    return PostgresStore(dsn)


async def test_an_item_raised_before_0013_keeps_its_row_and_thresholds_can_be_set_after(store_at_0012: Store) -> None:
    await store_at_0012.open()  # migrates to head
    try:
        [item] = await store_at_0012.worklist("hjemme", states=[WorklistState.OPEN])
        assert (item.kind, item.summary, item.triage_colour, item.implicated, item.assignee) == (
            WorklistKind.INACTIVE_PATIENT, "Inactive patient: no measurement ever", None, (), None,
        )  # fmt: skip
        closed = await store_at_0012.update_worklist_item(
            "item-1", actor="nurse-kari", action="closed", at=T0, text="Ringte, alt vel", outcome="contacted"
        )
        assert closed.state is WorklistState.CLOSED
        bands = (ThresholdBand(TriageColour.RED, None, 85), ThresholdBand(TriageColour.GREEN, 85, None))
        thresholds = ThresholdSet("p-1", (MeasurementThresholds(Parameter.SPO2, bands),), "KOLS", "dr.lund", T0)
        await store_at_0012.set_thresholds(thresholds)
        assert await store_at_0012.thresholds(["p-1"]) == {"p-1": thresholds}
    finally:
        await store_at_0012.close()
