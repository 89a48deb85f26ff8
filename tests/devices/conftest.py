"""Store fixtures for the devices tests: the same tests run on SQLite and, marked integration, on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.store import Store
from core.store.postgres import PostgresStore
from core.store.sqlite import SqliteStore
from core.types import Bed, CareSetting, Patient, Site, SiteKind, Stay, Ward

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    backend: Store
    if request.param == "sqlite":
        backend = SqliteStore(tmp_path / "vaktrom.sqlite3")
    else:
        backend = PostgresStore(request.getfixturevalue("postgres_dsn"))
    await backend.open()
    try:
        yield backend
    finally:
        await backend.close()


async def seed_ward(store: Store) -> None:
    """Site A with ward A1 (beds 1 and 2, patients p1 and p2 in them), home patient h1 in ward A-home, and site B
    with ward B1 and patient p9."""
    await store.upsert_site(Site("site-a", "Site A", SiteKind.SYKESTUE))
    await store.upsert_site(Site("site-b", "Site B", SiteKind.KAD))
    await store.upsert_ward(Ward("ward-a1", "site-a", "A1"))
    await store.upsert_ward(Ward("ward-a-home", "site-a", "A home"))
    await store.upsert_ward(Ward("ward-b1", "site-b", "B1"))
    for bed_id, ward_id in (("bed-1", "ward-a1"), ("bed-2", "ward-a1"), ("bed-9", "ward-b1")):
        await store.upsert_bed(Bed(bed_id, ward_id, bed_id))
    for patient_id in ("p1", "p2", "h1", "p9"):
        await store.upsert_patient(Patient(patient_id, f"Test {patient_id}"))
    start = T0.replace(hour=0)
    await store.add_stay(Stay("s1", "p1", "ward-a1", CareSetting.BEDSIDE, start, bed_id="bed-1"))
    await store.add_stay(Stay("s2", "p2", "ward-a1", CareSetting.BEDSIDE, start, bed_id="bed-2"))
    await store.add_stay(Stay("sh", "h1", "ward-a-home", CareSetting.HOME, start))
    await store.add_stay(Stay("s9", "p9", "ward-b1", CareSetting.BEDSIDE, start, bed_id="bed-9"))
