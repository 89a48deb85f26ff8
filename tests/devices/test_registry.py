"""Onboarding and pairing: what a technician can and cannot do, and how pairings partition a device's time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.errors import Conflict, InvalidIdentifier, NotFound
from core.store import Store
from core.types import DeviceKind, Pairing
from devices.registry import move_device, pair_device, pairing_at, register_device, unpair_device
from tests.devices.conftest import T0, seed_ward


async def _monitor(store: Store, device_id: str = "mon-1", site_id: str = "site-a") -> None:
    await register_device(
        store, device_id=device_id, site_id=site_id, kind=DeviceKind.BEDSIDE_MONITOR, model="M1", at=T0
    )


async def test_registered_device_is_stored_and_registering_again_changes_nothing(store: Store) -> None:
    await seed_ward(store)
    first = await register_device(
        store, device_id="mon-1", site_id="site-a", kind=DeviceKind.BEDSIDE_MONITOR, model="M1", at=T0
    )
    again = await register_device(
        store,
        device_id="mon-1",
        site_id="site-a",
        kind=DeviceKind.BEDSIDE_MONITOR,
        model="M1",
        at=T0 + timedelta(days=1),
    )
    assert again == first
    stored = await store.get_device("mon-1")
    assert (stored.site_id, stored.kind, stored.registered_at) == ("site-a", DeviceKind.BEDSIDE_MONITOR, T0)


@pytest.mark.parametrize("bad_id", ["", "has/slash", "+", "#", "$SYS", "x" * 65, "mon 1"])
async def test_device_id_that_cannot_be_a_topic_level_is_refused(store: Store, bad_id: str) -> None:
    await seed_ward(store)
    with pytest.raises(InvalidIdentifier) as caught:
        await register_device(
            store, device_id=bad_id, site_id="site-a", kind=DeviceKind.BEDSIDE_MONITOR, model="M1", at=T0
        )
    assert caught.value.kind == "device"
    assert "not valid" in str(caught.value)
    assert await store.list_devices() == []


async def test_device_at_unknown_site_is_refused(store: Store) -> None:
    await seed_ward(store)
    with pytest.raises(NotFound, match="site site-x not found"):
        await _monitor(store, site_id="site-x")


async def test_device_id_already_registered_elsewhere_is_a_conflict(store: Store) -> None:
    await seed_ward(store)
    await _monitor(store)
    with pytest.raises(Conflict, match="already registered as a bedside_monitor at site site-a"):
        await _monitor(store, site_id="site-b")


async def test_pairing_an_unknown_device_is_not_found(store: Store) -> None:
    await seed_ward(store)
    with pytest.raises(NotFound, match="device mon-404 not found"):
        await pair_device(store, device_id="mon-404", patient_id="p1", at=T0)


PAIRED_AT = T0 + timedelta(minutes=1)
NO_STAY_AT_SITE_A = (
    "Patient {} has no stay open at site site-a at 2025-03-01T08:01:00+00:00; check the patient id, or admit or "
    "enrol the patient first"
)


@pytest.mark.parametrize(
    "patient_id",
    [
        pytest.param("p404", id="no such patient"),
        pytest.param("p9", id="patient in a ward of another site"),
        pytest.param("p1", id="patient of this site discharged"),
    ],
)
async def test_a_technician_is_told_the_same_whether_the_patient_is_unknown_or_at_another_site(
    store: Store, patient_id: str
) -> None:
    await seed_ward(store)
    await _monitor(store)
    await store.end_stay("s1", end_at=T0)
    with pytest.raises(Conflict) as refused:
        await pair_device(store, device_id="mon-1", patient_id=patient_id, at=PAIRED_AT)
    assert str(refused.value) == NO_STAY_AT_SITE_A.format(patient_id)  # no ward, no site, no hint the id exists
    assert (await store.pairings_of_devices(["mon-1"])).get("mon-1", []) == []


async def test_pairing_to_a_bed_that_is_not_the_patients_is_a_conflict(store: Store) -> None:
    await seed_ward(store)
    await _monitor(store)
    with pytest.raises(Conflict, match="p1 is in bed bed-1, not bed-2"):
        await pair_device(store, device_id="mon-1", patient_id="p1", bed_id="bed-2", at=T0)


async def test_pairing_takes_the_bed_from_the_stay_and_home_devices_have_no_bed(store: Store) -> None:
    await seed_ward(store)
    await _monitor(store)
    await register_device(store, device_id="kit-1", site_id="site-a", kind=DeviceKind.HOME_KIT, model="K", at=T0)
    bedside = await pair_device(store, device_id="mon-1", patient_id="p1", at=T0)
    home = await pair_device(store, device_id="kit-1", patient_id="h1", at=T0)
    assert bedside == Pairing("mon-1", "p1", T0, bed_id="bed-1")
    assert home == Pairing("kit-1", "h1", T0, bed_id=None)
    with pytest.raises(Conflict, match="monitored at home"):
        await pair_device(store, device_id="kit-1", patient_id="h1", bed_id="bed-1", at=T0 + timedelta(hours=1))


async def test_a_bed_can_have_several_devices(store: Store) -> None:
    await seed_ward(store)
    await _monitor(store, "mon-1")
    await _monitor(store, "mon-2")
    await pair_device(store, device_id="mon-1", patient_id="p1", at=T0)
    await pair_device(store, device_id="mon-2", patient_id="p1", at=T0)
    pairings = await store.pairings_of_devices(["mon-1", "mon-2"])
    assert [p.bed_id for ps in pairings.values() for p in ps if p.end_at is None] == ["bed-1", "bed-1"]


async def test_pairing_again_to_the_same_patient_keeps_the_open_pairing(store: Store) -> None:
    await seed_ward(store)
    await _monitor(store)
    await pair_device(store, device_id="mon-1", patient_id="p1", at=T0)
    again = await pair_device(store, device_id="mon-1", patient_id="p1", at=T0 + timedelta(hours=3))
    assert again.start_at == T0
    assert len((await store.pairings_of_devices(["mon-1"]))["mon-1"]) == 1


async def test_device_moved_from_bed_1_to_bed_2_splits_its_time_between_the_patients(store: Store) -> None:
    await seed_ward(store)
    await _monitor(store)
    moved_at = T0 + timedelta(hours=2)
    await pair_device(store, device_id="mon-1", patient_id="p1", at=T0)
    await move_device(store, device_id="mon-1", patient_id="p2", at=moved_at)

    pairings = (await store.pairings_of_devices(["mon-1"]))["mon-1"]
    assert pairings == [
        Pairing("mon-1", "p1", T0, bed_id="bed-1", end_at=moved_at),
        Pairing("mon-1", "p2", moved_at, bed_id="bed-2"),
    ]
    before = pairing_at(pairings, moved_at - timedelta(microseconds=1))
    after = pairing_at(pairings, moved_at)
    assert before is not None and before.patient_id == "p1"
    assert after is not None and after.patient_id == "p2"
    assert pairing_at(pairings, T0 - timedelta(seconds=1)) is None


async def test_pairing_cannot_start_before_the_open_pairing(store: Store) -> None:
    await seed_ward(store)
    await _monitor(store)
    await pair_device(store, device_id="mon-1", patient_id="p1", at=T0 + timedelta(hours=1))
    with pytest.raises(Conflict, match="cannot start before"):
        await pair_device(store, device_id="mon-1", patient_id="p2", at=T0)


async def test_unpaired_device_attributes_nothing_after_the_end(store: Store) -> None:
    await seed_ward(store)
    await _monitor(store)
    await pair_device(store, device_id="mon-1", patient_id="p1", at=T0)
    ended = await unpair_device(store, device_id="mon-1", at=T0 + timedelta(hours=1))
    assert ended == Pairing("mon-1", "p1", T0, bed_id="bed-1", end_at=T0 + timedelta(hours=1))
    pairings = (await store.pairings_of_devices(["mon-1"]))["mon-1"]
    assert pairings == [ended]
    assert pairing_at(pairings, T0 + timedelta(hours=1)) is None
    with pytest.raises(Conflict, match="mon-1 is not paired"):
        await unpair_device(store, device_id="mon-1", at=T0 + timedelta(hours=2))


async def test_moving_an_unpaired_device_says_to_pair_it(store: Store) -> None:
    await seed_ward(store)
    await _monitor(store)
    with pytest.raises(Conflict, match="pair it instead of moving it"):
        await move_device(store, device_id="mon-1", patient_id="p2", at=T0)
    with pytest.raises(NotFound):
        await move_device(store, device_id="mon-404", patient_id="p2", at=T0)
