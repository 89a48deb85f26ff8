"""Administration on both engines: places retire and vanish from pickers but stay in history; a refused change
writes nothing; one current stay per patient and per bed; the bed's devices follow its patient without
re-attributing a stored reading; the length-of-stay timer is armed, carried, disarmed and fires once."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from alerts.length_of_stay import stay_limit_passed
from core.administration import AdminRefused, ImportRefused, UnitImportRow
from core.national_id import parse_national_id
from core.store import Store
from core.types import (
    AlertKind,
    AlertState,
    Bed,
    CareSetting,
    Device,
    DeviceKind,
    Pairing,
    Parameter,
    Patient,
    Reading,
    Site,
    SiteKind,
    Stay,
    Ward,
)
from devices.registry import pairing_at

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
NUMBER = "01017012343"  # a valid fødselsnummer made up for tests (tests/core/test_national_id.py)


async def _unit(store: Store) -> None:
    await store.create_site(Site("kad", "Hammerfest KAD", SiteKind.KAD))
    await store.create_site(Site("sykestue", "Sykestua", SiteKind.SYKESTUE))
    await store.create_site(Site("hjemme", "Hjemmeoppfølging", SiteKind.HOME_PROGRAMME))
    await store.create_ward(Ward("kad-w", "kad", "KAD"))
    await store.create_ward(Ward("sy-w", "sykestue", "Post 1"))
    await store.create_ward(Ward("home-w", "hjemme", "Program"))
    for bed_id, ward_id in (("k1", "kad-w"), ("k2", "kad-w"), ("s1", "sy-w")):
        await store.create_bed(Bed(bed_id, ward_id, bed_id.upper()))
    for patient_id in ("p1", "p2"):
        await store.create_patient(Patient(patient_id, f"Test {patient_id}"), national_id=None, at=T0, by="admin")


async def _refused(call: object, *, field: str, missing: bool = False) -> str:
    with pytest.raises(AdminRefused) as refused:
        await call  # type: ignore[misc]
    assert (refused.value.field, refused.value.missing) == (field, missing)
    return refused.value.reason


async def test_places_are_created_renamed_and_retired_and_retired_ones_leave_the_pickers(store: Store) -> None:
    await _unit(store)
    await store.rename_ward("kad-w", name="KAD/ØHD")
    await store.rename_bed("k2", label="Seng 2")
    retired = await store.retire_bed("k2", at=T0)

    assert retired == Bed("k2", "kad-w", "Seng 2", retired_at=T0)
    assert [b.bed_id for b in await store.list_beds("kad-w")] == ["k1"]
    assert [b.bed_id for b in await store.list_beds("kad-w", include_retired=True)] == ["k1", "k2"]
    assert (await store.get_ward("kad-w")).name == "KAD/ØHD"
    await store.retire_site("hjemme", at=T0)
    assert [s.site_id for s in await store.list_sites()] == ["kad", "sykestue"]
    assert (await store.get_site("hjemme")).retired_at == T0


async def test_a_place_that_is_missing_retired_or_taken_is_refused_naming_the_field(store: Store) -> None:
    await _unit(store)
    await store.retire_ward("sy-w", at=T0)

    assert await _refused(store.create_ward(Ward("x", "nowhere", "X")), field="site_id", missing=True) == (
        "no site 'nowhere'"
    )
    assert "exists already" in await _refused(store.create_site(Site("kad", "Again", SiteKind.KAD)), field="site_id")
    reason = await _refused(store.create_bed(Bed("s2", "sy-w", "S2")), field="ward_id")
    assert reason == f"ward sy-w was retired at {T0.isoformat()}"
    assert await store.list_beds("sy-w", include_retired=True) == [Bed("s1", "sy-w", "S1")]
    await _refused(store.rename_bed("nope", label="X"), field="bed_id", missing=True)


async def test_a_bed_or_ward_with_a_current_stay_is_not_retired_and_stays_as_it_was(store: Store) -> None:
    await _unit(store)
    await store.admit(patient_id="p1", bed_id="k1", stay_id="st-1", at=T0)

    reason = await _refused(store.retire_bed("k1", at=T0), field="bed_id")
    assert reason == "bed k1 has current stays: st-1 (patient p1); discharge or transfer them first"
    await _refused(store.retire_ward("kad-w", at=T0), field="ward_id")
    await _refused(store.retire_site("kad", at=T0), field="site_id")
    assert (await store.get_bed("k1")).retired_at is None
    assert (await store.get_ward("kad-w")).retired_at is None
    assert (await store.get_site("kad")).retired_at is None


async def test_a_patients_national_id_is_kept_apart_and_one_number_names_one_patient(store: Store) -> None:
    await _unit(store)
    number = parse_national_id(NUMBER)
    await store.create_patient(Patient("p3", "Test p3", 1970), national_id=number, at=T0, by="admin")

    reason = await _refused(
        store.create_patient(Patient("p4", "Test p4"), national_id=number, at=T0, by="admin"), field="national_id"
    )
    assert reason == "this number is already registered to patient p3"
    assert NUMBER not in reason
    with pytest.raises(Exception, match="patient"):
        await store.get_patient("p4")  # nothing half-written: no patient row without its number
    assert await store.national_id_of("p3") == number
    assert await store.has_national_id(["p1", "p3"]) == {"p3"}
    await store.change_patient("p3", national_id=None, at=T0, by="admin")
    assert await store.national_id_of("p3") is None


async def test_admit_transfer_and_discharge_keep_the_history_and_refuse_a_second_current_stay(store: Store) -> None:
    await _unit(store)
    admitted = await store.admit(patient_id="p1", bed_id="k1", stay_id="st-1", at=T0)

    reason = await _refused(store.admit(patient_id="p2", bed_id="k1", stay_id="st-2", at=T0), field="bed_id")
    assert reason == "bed k1 is taken: stay st-1 of patient p1"
    reason = await _refused(store.admit(patient_id="p1", bed_id="k2", stay_id="st-3", at=T0), field="patient_id")
    assert (
        reason == "patient p1 already has a current stay (st-1, bed k1 in ward kad-w); transfer or discharge them first"
    )
    await _refused(store.enrol_home(patient_id="p2", ward_id="kad-w", stay_id="st-4", at=T0), field="ward_id")
    assert await store.stay_history("p2") == []  # nothing half-written by the refusals

    moved = await store.transfer(patient_id="p1", bed_id="s1", stay_id="st-5", at=T0 + timedelta(hours=5))
    left = await store.discharge(patient_id="p1", at=T0 + timedelta(days=1))

    assert admitted.started == Stay("st-1", "p1", "kad-w", CareSetting.BEDSIDE, T0, bed_id="k1", admitted_at=T0)
    first, second = await store.stay_history("p1")
    assert first == Stay(
        "st-1", "p1", "kad-w", CareSetting.BEDSIDE, T0, bed_id="k1", end_at=T0 + timedelta(hours=5), admitted_at=T0
    )
    assert second == left.ended
    assert moved.started == replace(second, end_at=None)
    assert (second.start_at, second.end_at) == (T0 + timedelta(hours=5), T0 + timedelta(days=1))
    assert second.admitted_at == T0 + timedelta(hours=5)  # KAD -> sykestue: the sykestue's length starts now
    await _refused(store.discharge(patient_id="p1", at=T0 + timedelta(days=2)), field="patient_id")
    await _refused(store.discharge(patient_id="nobody", at=T0), field="patient_id", missing=True)


async def test_home_follow_up_is_enrolled_and_ended_and_is_not_a_discharge(store: Store) -> None:
    await _unit(store)
    enrolled = await store.enrol_home(patient_id="p2", ward_id="home-w", stay_id="h-1", at=T0)

    reason = await _refused(store.discharge(patient_id="p2", at=T0 + timedelta(hours=1)), field="patient_id")
    assert reason == "patient p2's current stay is home: use end-home"
    ended = await store.end_home(patient_id="p2", at=T0 + timedelta(days=3))

    assert enrolled.started == Stay("h-1", "p2", "home-w", CareSetting.HOME, T0, admitted_at=T0)
    assert ended.ended == Stay(
        "h-1", "p2", "home-w", CareSetting.HOME, T0, end_at=T0 + timedelta(days=3), admitted_at=T0
    )
    assert await store.stays_of_patients(["p2"], at=T0 + timedelta(days=4)) == {}


def _reading(device_id: str, patient_id: str, at: datetime) -> Reading:
    return Reading(device_id, patient_id, Parameter.PULSE, 80.0, at, at)


async def test_the_beds_devices_follow_its_patient_and_a_transfer_never_reattributes_a_reading(store: Store) -> None:
    await _unit(store)
    for device_id in ("mon-k1", "mon-k2"):
        await store.register_device(Device(device_id, "kad", DeviceKind.BEDSIDE_MONITOR, "M", T0 - timedelta(days=9)))
    # Earlier patients left each bed's monitor parked there.
    for bed_id, stay_id in (("k1", "old-1"), ("k2", "old-2")):
        await store.add_stay(Stay(stay_id, f"gone-{bed_id}", "kad-w", CareSetting.BEDSIDE, T0 - timedelta(days=3),
                                  bed_id=bed_id, end_at=T0 - timedelta(days=1)))  # fmt: skip
        await store.pair_device(Pairing(f"mon-{bed_id}", f"gone-{bed_id}", T0 - timedelta(days=3), bed_id=bed_id,
                                        end_at=T0 - timedelta(days=1)))  # fmt: skip

    admitted = await store.admit(patient_id="p1", bed_id="k1", stay_id="st-1", at=T0)
    before = T0 + timedelta(hours=1)
    await store.append([_reading("mon-k1", "p1", before)], [])
    moved_at = T0 + timedelta(hours=2)
    moved = await store.transfer(patient_id="p1", bed_id="k2", stay_id="st-2", at=moved_at)
    await store.admit(patient_id="p2", bed_id="k1", stay_id="st-3", at=moved_at + timedelta(minutes=30))
    after = moved_at + timedelta(hours=1)
    await store.append([_reading("mon-k1", "p2", after), _reading("mon-k2", "p1", after)], [])

    assert admitted.devices_paired == ("mon-k1",)
    assert (moved.devices_unpaired, moved.devices_paired) == (("mon-k1",), ("mon-k2",))
    pairings = await store.pairings_of_devices(["mon-k1", "mon-k2"])
    assert [(p.patient_id, p.start_at, p.end_at) for p in pairings["mon-k1"][1:]] == [
        ("p1", T0, moved_at),
        ("p2", moved_at + timedelta(minutes=30), None),
    ]
    # A reading of bed k1's monitor measured before the transfer belongs to p1 whenever it arrives.
    late = pairing_at(pairings["mon-k1"], before + timedelta(minutes=1))
    assert late is not None and late.patient_id == "p1"
    assert pairing_at(pairings["mon-k2"], after) == Pairing("mon-k2", "p1", moved_at, bed_id="k2")
    p1 = await store.readings("p1", since=T0, until=T0 + timedelta(days=1))
    assert [(r.device_id, r.measured_at) for r in p1] == [("mon-k1", before), ("mon-k2", after)]
    p2 = await store.readings("p2", since=T0, until=T0 + timedelta(days=1))
    assert [(r.device_id, r.measured_at) for r in p2] == [("mon-k1", after)]
    await store.discharge(patient_id="p2", at=after + timedelta(hours=1))
    assert (await store.pairings_of_devices(["mon-k1"]))["mon-k1"][-1].end_at == after + timedelta(hours=1)


async def _fire(store: Store, at: datetime) -> list[str]:
    changes = await store.fire_due_stay_limits(at, lambda alert, due: stay_limit_passed(alert, due, at=at))
    return [c.alert.message for c in changes]


async def test_a_kad_stay_past_72_hours_raises_one_low_priority_item_and_a_discharge_resolves_it(store: Store) -> None:
    await _unit(store)
    await store.admit(patient_id="p1", bed_id="k1", stay_id="st-1", at=T0)
    await store.transfer(patient_id="p1", bed_id="k2", stay_id="st-2", at=T0 + timedelta(hours=10))  # KAD -> KAD

    assert await _fire(store, T0 + timedelta(hours=72) - timedelta(seconds=1)) == []
    fired = await _fire(store, T0 + timedelta(hours=72))
    assert await _fire(store, T0 + timedelta(hours=80)) == []  # once per stay and limit

    assert fired == [
        "Length of stay: KAD/ØHD stay beyond 72 h: decide on discharge or transfer (here since 03.03.2025 09:00)"
    ]
    [item] = await store.list_alerts(patient_ids=["p1"], kinds=[AlertKind.LENGTH_OF_STAY])
    assert (item.ward_id, item.priority.value, item.state) == ("kad-w", "low", AlertState.OPEN)
    await store.discharge(patient_id="p1", at=T0 + timedelta(hours=90))
    resolved = await store.get_alert(item.alert_id)
    assert (resolved.state, resolved.resolve_reason) == (AlertState.RESOLVED, "discharged")


async def test_a_discharge_before_the_limit_disarms_the_timer(store: Store) -> None:
    await _unit(store)
    await store.admit(patient_id="p1", bed_id="k1", stay_id="st-1", at=T0)
    await store.discharge(patient_id="p1", at=T0 + timedelta(hours=70))

    assert await _fire(store, T0 + timedelta(days=30)) == []
    assert await store.list_alerts(patient_ids=["p1"]) == []


@pytest.mark.parametrize(
    ("admitted_at", "due_at"),
    [
        (datetime(2025, 3, 20, 9, 0, tzinfo=UTC), datetime(2025, 4, 3, 8, 0, tzinfo=UTC)),  # 10:00 CET -> 10:00 CEST
        (datetime(2025, 10, 20, 8, 0, tzinfo=UTC), datetime(2025, 11, 3, 9, 0, tzinfo=UTC)),  # 10:00 CEST -> 10:00 CET
    ],
)
async def test_a_sykestue_stay_needs_a_specialists_review_14_oslo_days_after_admission(
    store: Store, admitted_at: datetime, due_at: datetime
) -> None:
    await _unit(store)
    await store.admit(patient_id="p1", bed_id="s1", stay_id="st-1", at=admitted_at)

    assert await _fire(store, due_at - timedelta(seconds=1)) == []
    [message] = await _fire(store, due_at)

    assert message.startswith("Length of stay: sykestue stay beyond 14 days: needs a specialist's review")


async def test_an_import_writes_a_units_beds_and_patients_in_one_transaction_or_nothing(store: Store) -> None:
    await _unit(store)
    good = [
        UnitImportRow(2, Bed("k3", "kad-w", "K3"), Patient("p3", "Test p3"), national_id=parse_national_id(NUMBER)),
        UnitImportRow(3, Bed("k4", "kad-w", "K4"), None),
    ]
    clash = [UnitImportRow(2, Bed("k5", "kad-w", "K5"), Patient("p4", "Test p4")), UnitImportRow(3, None, None)]

    changes = await store.import_unit("kad-w", good, at=T0, by="cli:eva")
    with pytest.raises(ImportRefused) as refused:
        await store.import_unit("kad-w", clash, at=T0, by="cli:eva")

    assert [c.started.bed_id if c.started else None for c in changes] == ["k3", None]
    assert (await store.stay_history("p3"))[0].admitted_at == T0
    assert str(refused.value) == "row 3, bed_id: is required in a ward with beds"
    assert [b.bed_id for b in await store.list_beds("kad-w")] == ["k1", "k2", "k3", "k4"]  # k5 rolled back
    with pytest.raises(Exception, match="patient"):
        await store.get_patient("p4")
