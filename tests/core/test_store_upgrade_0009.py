"""Revision 0009 on a live database: devices registered before it keep their rows and pairings, show no profile and
no vaktrom-issued credentials, and can be given credentials afterwards."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command

from core.onboarding import DeviceEvent
from core.store import Store, schema
from core.store.columns import json_text
from core.store.migrate import _config
from core.store.postgres import PostgresStore
from core.store.sqlite import SqliteStore
from core.types import DeviceKind

T0 = datetime(2025, 1, 6, 20, 0, tzinfo=UTC)
_OLD_DEVICE = {"device_id": "mon-7", "site_id": "s1", "kind": "bedside_monitor", "model": "MX40", "registered_at": T0}
_OLD_PAIRING = {"device_id": "mon-7", "patient_id": "pat-1", "bed_id": "bed-1", "start_at": T0, "end_at": None}


def _at_0008_with_one_device(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0008")
        conn.execute(sa.insert(schema.devices).values(_OLD_DEVICE))
        conn.execute(sa.insert(schema.pairings).values(_OLD_PAIRING))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def store_at_0008(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "sqlite":
        path = tmp_path / "at-0008.sqlite3"
        _at_0008_with_one_device(sa.create_engine(f"sqlite:///{path}"))
        return SqliteStore(path)
    dsn: str = request.getfixturevalue("postgres_dsn")
    engine = sa.create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(dsn), json_serializer=json_text)
    _at_0008_with_one_device(engine)
    return PostgresStore(dsn)


async def test_a_device_registered_before_0009_keeps_its_rows_and_has_no_issued_credentials(
    store_at_0008: Store,
) -> None:
    await store_at_0008.open()  # migrates to head
    try:
        device = await store_at_0008.get_device("mon-7")
        assert (device.kind, device.model, device.registered_at) == (DeviceKind.BEDSIDE_MONITOR, "MX40", T0)
        [pairing] = (await store_at_0008.pairings_of_devices(["mon-7"]))["mon-7"]
        assert (pairing.patient_id, pairing.bed_id, pairing.end_at) == ("pat-1", "bed-1", None)
        assert await store_at_0008.device_profiles(["mon-7"]) == {}
        assert await store_at_0008.current_credentials(["mon-7"]) == {}
        assert await store_at_0008.device_events("mon-7") == []
        event = DeviceEvent("mon-7", T0, "paired", "tech-1", "to patient pat-1 in bed bed-1")
        await store_at_0008.record_device_event(event)
        assert await store_at_0008.device_events("mon-7") == [event]
    finally:
        await store_at_0008.close()
