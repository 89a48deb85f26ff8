"""Ingest's device directory: which site each device is registered at, cached; a restarted worker asks the store
about a whole unit's devices at once, and a device registered meanwhile is known within seconds."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.store.sqlite import SqliteStore
from core.types import Device, DeviceKind, Site, SiteKind
from ingest.attribution import DEVICE_CACHE_TTL_S, UNKNOWN_DEVICE_CACHE_TTL_S, DeviceDirectory

T0 = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
UNIT = 300  # devices of a unit


class CountingStore(SqliteStore):
    """Counts the directory's reads (each a round trip to the database server in production)."""

    reads = 0

    async def list_devices(
        self, *, site_ids: Sequence[str] | None = None, device_ids: Sequence[str] | None = None
    ) -> list[Device]:
        self.reads += 1
        return await super().list_devices(site_ids=site_ids, device_ids=device_ids)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[CountingStore]:
    sqlite = CountingStore(tmp_path / "vaktrom.db")
    await sqlite.open()
    await sqlite.upsert_site(Site("s1", "Sykestua", SiteKind.SYKESTUE))
    for n in range(UNIT):
        await sqlite.register_device(Device(f"mon-{n}", "s1", DeviceKind.BEDSIDE_MONITOR, "M1", T0))
    yield sqlite
    await sqlite.close()


async def test_a_units_devices_are_read_in_one_query_and_unknown_ones_are_none(store: CountingStore) -> None:
    now = [0.0]
    directory = DeviceDirectory(store, clock=lambda: now[0])
    asked = [f"mon-{n}" for n in range(UNIT)] + ["stranger"]

    devices = await directory.devices(asked)

    assert store.reads == 1
    assert devices["stranger"] is None
    assert {d.site_id for d in devices.values() if d is not None} == {"s1"}
    assert sum(d is not None for d in devices.values()) == UNIT
    await directory.devices(asked)
    assert store.reads == 1  # cached


async def test_a_device_registered_after_it_was_unknown_is_known_after_the_short_ttl(store: CountingStore) -> None:
    now = [0.0]
    directory = DeviceDirectory(store, clock=lambda: now[0])
    assert (await directory.devices(["late"]))["late"] is None
    await store.register_device(Device("late", "s1", DeviceKind.BEDSIDE_MONITOR, "M1", T0))

    now[0] = UNKNOWN_DEVICE_CACHE_TTL_S - 0.1
    assert (await directory.devices(["late", "mon-1"]))["late"] is None
    now[0] = UNKNOWN_DEVICE_CACHE_TTL_S + 0.1
    reads = store.reads
    found = await directory.devices(["late", "mon-1"])
    assert found["late"] is not None and found["mon-1"] is not None
    assert store.reads == reads + 1  # only the stale one asked about, in one query
    now[0] += DEVICE_CACHE_TTL_S  # both stale now: asked again together
    await directory.devices(["late", "mon-1"])
    assert store.reads == reads + 2
