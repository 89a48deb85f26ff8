"""Revision 0014 on a live database: a patient in alcohol withdrawal flagged before it keeps the flag, has no
withdrawal assessments, and can be assessed (and alerted on) afterwards."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command

from alerts.withdrawal import decide_withdrawal_alert, new_assessment
from core.care_flags import CareFlag
from core.store import Store, schema
from core.store.columns import json_text
from core.store.migrate import _config
from core.store.postgres import PostgresStore
from core.store.sqlite import SqliteStore
from core.types import AlertKind, AlertPriority, CareSetting
from core.withdrawal import WithdrawalBand, WithdrawalScale
from scoring.withdrawal import SCALES

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
_OLD_FLAG = {"patient_id": "p-1", "flag": "alcohol_withdrawal", "active": True, "reason": "avrusning",
             "set_by": "dr-lund", "set_at": T0}  # fmt: skip


def _at_0013_with_a_flagged_patient(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0013")
        conn.execute(sa.insert(schema.care_flags).values(_OLD_FLAG))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def store_at_0013(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "sqlite":
        path = tmp_path / "at-0013.sqlite3"
        _at_0013_with_a_flagged_patient(sa.create_engine(f"sqlite:///{path}"))
        return SqliteStore(path)
    dsn: str = request.getfixturevalue("postgres_dsn")
    engine = sa.create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(dsn), json_serializer=json_text)
    _at_0013_with_a_flagged_patient(engine)
    return PostgresStore(dsn)


async def test_a_patient_flagged_before_0014_keeps_the_flag_and_can_be_assessed_afterwards(
    store_at_0013: Store,
) -> None:
    store = store_at_0013
    await store.open()  # migrates to head
    try:
        assert await store.care_flags(["p-1"]) == {"p-1": frozenset({CareFlag.ALCOHOL_WITHDRAWAL})}
        assert await store.withdrawal_assessments("p-1") == []
        items = {item.value: 0 for item in SCALES[WithdrawalScale.AWS].items} | {"pulse": 3, "agitation": 4,
                                                                                  "hallucinations": 3}  # fmt: skip
        assessment = new_assessment(
            assessment_id="wa-1", patient_id="p-1", scale=WithdrawalScale.AWS, items=items, assessed_at=T0,
            assessed_by="nurse-kari", recorded_at=T0,
        )  # fmt: skip
        decide = decide_withdrawal_alert(assessment, ward_id=None, setting=CareSetting.BEDSIDE)
        change = await store.add_withdrawal_assessment(assessment, decide)

        assert [(a.total, a.band) for a in await store.withdrawal_assessments("p-1")] == [(10, WithdrawalBand.SEVERE)]
        assert change is not None
        assert (change.alert.kind, change.alert.priority) == (AlertKind.WITHDRAWAL_RISING, AlertPriority.HIGH)
    finally:
        await store.close()
