"""Revision 0007 on a live database: places and stays made before it keep every field, are in use (not retired),
and their length of stay runs from the stay's start, with its timer armed; a database holding two current stays of
one patient is not upgraded, and the refusal names the patient."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command

from alerts.length_of_stay import stay_limit_passed
from core.administration import AdminRefused
from core.store import Store, schema
from core.store.columns import json_text
from core.store.migrate import _config
from core.store.postgres import PostgresStore
from core.store.sqlite import SqliteStore
from core.types import Bed, CareSetting, Site, SiteKind, Stay, Ward

T0 = datetime(2025, 1, 6, 20, 0, tzinfo=UTC)
_STAY = {"stay_id": "st-1", "patient_id": "p1", "ward_id": "w1", "setting": "bedside", "start_at": T0, "bed_id": "b1"}


def _at_0006(engine: sa.Engine, stays: list[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0006")
        conn.execute(sa.insert(schema.sites).values(site_id="s1", name="Sykestua", kind="sykestue"))
        conn.execute(sa.insert(schema.wards).values(ward_id="w1", site_id="s1", name="Post 1"))
        conn.execute(sa.insert(schema.beds).values(bed_id="b1", ward_id="w1", label="Seng 1"))
        conn.execute(sa.insert(schema.patients).values(patient_id="p1", display_name="Test", birth_year=1950))
        for stay in stays:  # only the columns 0006 has
            conn.execute(sa.insert(schema.stays).values(stay))
    engine.dispose()


def _store_at_0006(request: pytest.FixtureRequest, tmp_path: Path, stays: list[dict[str, Any]]) -> Store:
    if request.param == "sqlite":
        path = tmp_path / "at-0006.sqlite3"
        _at_0006(sa.create_engine(f"sqlite:///{path}"), stays)
        return SqliteStore(path)
    dsn: str = request.getfixturevalue("postgres_dsn")
    engine = sa.create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(dsn), json_serializer=json_text)
    _at_0006(engine, stays)
    return PostgresStore(dsn)


ENGINES = ["sqlite", pytest.param("postgres", marks=pytest.mark.integration)]


@pytest.fixture(params=ENGINES)
def store_at_0006(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return _store_at_0006(request, tmp_path, [_STAY])


@pytest.fixture(params=ENGINES)
def store_with_two_current_stays(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return _store_at_0006(request, tmp_path, [_STAY, _STAY | {"stay_id": "st-2", "bed_id": None, "setting": "home"}])


async def _fire(store: Store, at: datetime) -> list[tuple[str | None, str | None]]:
    changes = await store.fire_due_stay_limits(at, lambda alert, due: stay_limit_passed(alert, due, at=at))
    return [(c.alert.patient_id, c.alert.ward_id) for c in changes]


async def test_places_and_stays_from_before_0007_keep_every_field_and_are_in_use(store_at_0006: Store) -> None:
    await store_at_0006.open()
    try:
        assert await store_at_0006.list_sites() == [Site("s1", "Sykestua", SiteKind.SYKESTUE)]
        assert await store_at_0006.list_wards() == [Ward("w1", "s1", "Post 1")]
        assert await store_at_0006.list_beds("w1") == [Bed("b1", "w1", "Seng 1")]
        [stay] = await store_at_0006.stay_history("p1")
        assert stay == Stay("st-1", "p1", "w1", CareSetting.BEDSIDE, T0, bed_id="b1")
        assert stay.length_from == T0
        with pytest.raises(AdminRefused, match="bed b1 has current stays: st-1"):
            await store_at_0006.retire_bed("b1", at=T0)
        # its length-of-stay timer was armed by the upgrade: the sykestue's 14 days run from the stay's start
        due = T0 + timedelta(days=14)
        assert await _fire(store_at_0006, due - timedelta(seconds=1)) == []
        assert await _fire(store_at_0006, due) == [("p1", "w1")]
    finally:
        await store_at_0006.close()


async def test_a_database_with_two_current_stays_of_one_patient_is_not_upgraded_and_says_whose(
    store_with_two_current_stays: Store,
) -> None:
    with pytest.raises(Exception, match=r"patient_ids have more than one current stay \(end_at NULL\): p1"):
        await store_with_two_current_stays.open()
    await store_with_two_current_stays.close()
