"""Pairing times a technician gives (API `at`, CLI `--at`), against a fake clock on both stores: never in the
future beyond a clock's skew, and never overlapping the device's pairing to another patient, so each reading stays
the patient's the device was on when it was measured."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from core.errors import Conflict
from core.store import Store
from core.types import DeviceKind, Pairing
from devices import onboarding
from devices.registry import pairing_at, register_device
from tests.devices.conftest import T0, seed_ward

TECH = "tech-1"
NOW = T0 + timedelta(hours=2)  # the fake clock: what the server's clock says when the technician sends the change


async def _monitor_paired_to_p1(store: Store) -> None:
    await seed_ward(store)
    await register_device(store, device_id="mon-1", site_id="site-a", kind=DeviceKind.BEDSIDE_MONITOR, model="M", at=T0)
    await onboarding.pair_device(store, device_id="mon-1", patient_id="p1", bed_id=None, actor=TECH, at=T0, now=T0)


async def _pairings(store: Store) -> list[Pairing]:
    return (await store.pairings_of_devices(["mon-1"]))["mon-1"]


async def _events(store: Store) -> list[str]:
    return [event.event for event in await store.device_events("mon-1")]


@pytest.mark.parametrize(
    ("ahead", "refused"),
    [
        pytest.param(timedelta(0), False, id="now"),
        pytest.param(timedelta(seconds=60), False, id="60 s ahead: clocks' skew"),
        pytest.param(timedelta(seconds=61), True, id="61 s ahead"),
        pytest.param(timedelta(hours=1), True, id="an hour ahead: wrong UTC offset"),
    ],
)
async def test_moving_a_device_to_another_patient_dated_in_the_future_is_refused(
    store: Store, ahead: timedelta, refused: bool
) -> None:
    await _monitor_paired_to_p1(store)
    at = NOW + ahead
    if not refused:
        await onboarding.pair_device(store, device_id="mon-1", patient_id="p2", bed_id=None, actor=TECH, at=at, now=NOW)
        assert [(p.patient_id, p.start_at, p.end_at) for p in await _pairings(store)] == [
            ("p1", T0, at), ("p2", at, None)
        ]  # fmt: skip
        return
    with pytest.raises(Conflict) as error:
        await onboarding.pair_device(store, device_id="mon-1", patient_id="p2", bed_id=None, actor=TECH, at=at, now=NOW)
    assert str(error.value) == (
        f"Device mon-1 cannot be paired from {at.isoformat()}: that is in the future (now is {NOW.isoformat()}); "
        "check the time and its UTC offset"
    )
    pairings = await _pairings(store)
    assert pairings == [Pairing("mon-1", "p1", T0, bed_id="bed-1")]  # nothing changed
    reading_on_p2 = pairing_at(pairings, NOW + timedelta(seconds=30))
    assert reading_on_p2 is not None and reading_on_p2.patient_id == "p1"  # still p1 until the technician retries
    assert await _events(store) == ["paired"]


@pytest.mark.parametrize(
    ("ahead", "refused"),
    [
        pytest.param(timedelta(seconds=60), False, id="60 s ahead: clocks' skew"),
        pytest.param(timedelta(seconds=61), True, id="61 s ahead"),
        pytest.param(timedelta(hours=1), True, id="an hour ahead: wrong UTC offset"),
    ],
)
async def test_unpairing_dated_in_the_future_is_refused(store: Store, ahead: timedelta, refused: bool) -> None:
    await _monitor_paired_to_p1(store)
    at = NOW + ahead
    if not refused:
        ended = await onboarding.unpair_device(store, device_id="mon-1", actor=TECH, at=at, now=NOW)
        assert ended.end_at == at
        return
    with pytest.raises(Conflict) as error:
        await onboarding.unpair_device(store, device_id="mon-1", actor=TECH, at=at, now=NOW)
    assert str(error.value) == (
        f"Device mon-1 cannot be unpaired at {at.isoformat()}: that is in the future (now is {NOW.isoformat()}); "
        "check the time and its UTC offset"
    )
    assert await _pairings(store) == [Pairing("mon-1", "p1", T0, bed_id="bed-1")]
    assert await _events(store) == ["paired"]


UNPAIRED_AT = T0 + timedelta(hours=1)


@pytest.mark.parametrize(
    ("patient_id", "paired_at", "refused"),
    [
        pytest.param("p2", UNPAIRED_AT - timedelta(minutes=30), True, id="another patient, before p1's end"),
        pytest.param("p2", UNPAIRED_AT - timedelta(microseconds=1), True, id="another patient, just before"),
        pytest.param("p2", UNPAIRED_AT, False, id="another patient, at p1's end"),
        pytest.param("p1", UNPAIRED_AT - timedelta(minutes=30), False, id="the same patient again"),
    ],
)
async def test_a_backdated_pairing_to_another_patient_cannot_overlap_the_ended_one(
    store: Store, patient_id: str, paired_at: datetime, refused: bool
) -> None:
    await _monitor_paired_to_p1(store)
    await onboarding.unpair_device(store, device_id="mon-1", actor=TECH, at=UNPAIRED_AT, now=NOW)
    pair = onboarding.pair_device(
        store, device_id="mon-1", patient_id=patient_id, bed_id=None, actor=TECH, at=paired_at, now=NOW
    )
    if not refused:
        await pair
        assert [p.patient_id for p in await _pairings(store)] == ["p1", patient_id]
        return
    with pytest.raises(Conflict) as error:
        await pair
    assert str(error.value) == (
        f"Device mon-1 was paired to patient p1 until {UNPAIRED_AT.isoformat()}; a pairing to patient p2 cannot "
        f"start before that ({paired_at.isoformat()})"
    )
    pairings = await _pairings(store)
    assert pairings == [Pairing("mon-1", "p1", T0, bed_id="bed-1", end_at=UNPAIRED_AT)]
    late = pairing_at(pairings, UNPAIRED_AT - timedelta(minutes=20))  # measured on p1, arriving late
    assert late is not None and late.patient_id == "p1"
    assert await _events(store) == ["paired", "unpaired"]
