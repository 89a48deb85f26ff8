"""The store keeps a device's pairings to different patients from overlapping, in the pairing's own transaction:
whoever calls it, a reading's time names one patient."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from core.errors import Conflict
from core.store import Store
from core.types import Device, DeviceKind, Pairing
from tests.devices.conftest import T0, seed_ward

T1 = T0 + timedelta(hours=1)
T2 = T0 + timedelta(hours=2)
T3 = T0 + timedelta(hours=3)


async def _device_with_history(store: Store) -> None:
    """mon-1 was on p1 from T0 to T2 (ended), then on nobody."""
    await seed_ward(store)
    await store.register_device(Device("mon-1", "site-a", DeviceKind.BEDSIDE_MONITOR, "M", T0))
    await store.pair_device(Pairing("mon-1", "p1", T0, bed_id="bed-1"))
    await store.unpair_device("mon-1", end_at=T2)


ENDED_P1 = Pairing("mon-1", "p1", T0, bed_id="bed-1", end_at=T2)


@pytest.mark.parametrize(
    ("new", "refusal"),
    [
        pytest.param(Pairing("mon-1", "p2", T1, bed_id="bed-2"), "until", id="open, starting inside p1's"),
        pytest.param(Pairing("mon-1", "p2", T0, bed_id="bed-2", end_at=T1), "until", id="ended, inside p1's"),
        pytest.param(
            Pairing("mon-1", "p2", T0 - timedelta(hours=1), end_at=T0 + timedelta(seconds=1)),
            "until",
            id="ended, reaching into p1's",
        ),
        pytest.param(Pairing("mon-1", "p2", T2, bed_id="bed-2"), None, id="starting at p1's end"),
        pytest.param(Pairing("mon-1", "p2", T0 - timedelta(hours=1), end_at=T0), None, id="ended at p1's start"),
        pytest.param(Pairing("mon-1", "p1", T1, bed_id="bed-1"), None, id="p1 again"),
    ],
)
async def test_a_pairing_overlapping_another_patients_ended_pairing_is_refused_and_nothing_stored(
    store: Store, new: Pairing, refusal: str | None
) -> None:
    await _device_with_history(store)
    if refusal is None:
        await store.pair_device(new)
        assert new in (await store.pairings_of_devices(["mon-1"]))["mon-1"]
        return
    with pytest.raises(Conflict) as error:
        await store.pair_device(new)
    assert str(error.value) == (
        f"Device mon-1 was paired to patient p1 until {T2.isoformat()}; a pairing to patient p2 cannot start "
        f"before that ({new.start_at.isoformat()})"
    )
    assert (await store.pairings_of_devices(["mon-1"]))["mon-1"] == [ENDED_P1]


@pytest.mark.parametrize("start_at", [T1, T0], ids=["during p1's pairing", "at p1's start"])
async def test_a_pairing_starting_before_the_open_one_is_refused_rather_than_ending_it_before_it_began(
    store: Store, start_at: datetime
) -> None:
    await _device_with_history(store)
    await store.pair_device(Pairing("mon-1", "p2", T3, bed_id="bed-2"))
    with pytest.raises(Conflict) as error:
        await store.pair_device(Pairing("mon-1", "p1", start_at, bed_id="bed-1"))
    assert str(error.value) == (
        f"Device mon-1 has been paired to patient p2 since {T3.isoformat()}; a pairing to patient p1 cannot start "
        f"before that ({start_at.isoformat()})"
    )
    assert (await store.pairings_of_devices(["mon-1"]))["mon-1"] == [ENDED_P1, Pairing("mon-1", "p2", T3, "bed-2")]
