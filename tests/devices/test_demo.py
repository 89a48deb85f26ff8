"""The demo unit as a user of `make run` finds it: a sykestue with 6 monitored beds and a home programme."""

from __future__ import annotations

from datetime import timedelta

from core.store import Store
from core.types import CareSetting, CareTeamRole, DeviceKind, SiteKind, SpO2Scale
from devices.demo import DEMO_SCALE2_SET_BY, bench_unit, seed_bench_unit, seed_demo_unit
from tests.devices.conftest import T0


async def test_demo_unit_has_six_monitored_beds_and_four_home_patients(store: Store) -> None:
    unit = await seed_demo_unit(store, now=T0)

    sites = {s.site_id: s for s in await store.list_sites()}
    assert sites[unit.site_id].name == "Demo sykestue"
    assert sites[unit.site_id].kind is SiteKind.SYKESTUE
    assert unit.home_site_id is not None and sites[unit.home_site_id].kind is SiteKind.HOME_PROGRAMME
    beds = await store.list_beds(unit.ward_id)
    assert sorted(b.bed_id for b in beds) == sorted(b.bed_id for b in unit.beds)
    assert len(beds) == 6

    stays = await store.stays_of_patients(unit.patient_ids, at=T0)
    for bed in unit.beds:
        assert (stays[bed.patient_id].setting, stays[bed.patient_id].bed_id) == (CareSetting.BEDSIDE, bed.bed_id)
    assert len(unit.home_patients) == 4
    for home in unit.home_patients:
        assert (stays[home.patient_id].setting, stays[home.patient_id].ward_id) == (CareSetting.HOME, unit.home_ward_id)
    assert unit.deteriorating_patient_id in {b.patient_id for b in unit.beds}


async def test_every_demo_device_is_registered_and_paired_to_its_bed_or_home_patient(store: Store) -> None:
    unit = await seed_demo_unit(store, now=T0)
    devices = {d.device_id: d for d in await store.list_devices()}
    pairings = await store.pairings_of_devices(list(unit.device_ids))
    for bed in unit.beds:
        assert devices[bed.monitor_id].kind is DeviceKind.BEDSIDE_MONITOR
        assert bed.chart_id is not None and devices[bed.chart_id].kind is DeviceKind.NURSE_TABLET
        for device_id in (bed.monitor_id, bed.chart_id):
            [pairing] = pairings[device_id]
            assert (pairing.patient_id, pairing.bed_id, pairing.end_at) == (bed.patient_id, bed.bed_id, None)
    for home in unit.home_patients:
        assert devices[home.kit_id].kind is DeviceKind.HOME_KIT
        assert devices[home.kit_id].site_id == unit.home_site_id
        [pairing] = pairings[home.kit_id]
        assert (pairing.patient_id, pairing.bed_id) == (home.patient_id, None)


async def test_demo_care_teams_span_services_and_one_patient_is_on_scale_2_by_a_named_doctor(store: Store) -> None:
    unit = await seed_demo_unit(store, now=T0)
    roles = {pid: {m.role for m in await store.list_care_team(pid, at=T0)} for pid in unit.patient_ids}
    for patient_id in unit.patient_ids:
        assert {CareTeamRole.GP, CareTeamRole.MUNICIPAL_NURSE} <= roles[patient_id]
    home_roles = [roles[h.patient_id] for h in unit.home_patients]
    assert sum(CareTeamRole.FACT_TEAM in r for r in home_roles) == 1
    assert sum(CareTeamRole.LAR_TEAM in r for r in home_roles) == 1
    assert any(CareTeamRole.HOSPITAL_SPECIALIST in r for r in home_roles)

    assert unit.scale2_patient_id is not None
    decision = await store.get_spo2_scale(unit.scale2_patient_id)
    assert decision is not None
    assert (decision.scale, decision.set_by, decision.set_at) == (SpO2Scale.SCALE_2, DEMO_SCALE2_SET_BY, T0)
    others = [p for p in unit.patient_ids if p != unit.scale2_patient_id]
    assert [await store.get_spo2_scale(p) for p in others] == [None] * len(others)


async def test_demo_patient_names_are_obviously_fictional(store: Store) -> None:
    unit = await seed_demo_unit(store, now=T0)
    markers = ("demo", "test", "fiktiv", "prøve", "simulert", "eksempel", "attrapp")
    for patient_id in unit.patient_ids:
        name = (await store.get_patient(patient_id)).display_name.lower()
        assert any(marker in name for marker in markers), name


async def test_seeding_again_keeps_stays_pairings_and_teams(store: Store) -> None:
    first = await seed_demo_unit(store, now=T0)
    later = T0 + timedelta(hours=5)
    second = await seed_demo_unit(store, now=later)

    assert second == first
    pairings = await store.pairings_of_devices(list(first.device_ids))
    assert all(len(p) == 1 and p[0].start_at == T0 - timedelta(hours=1) for p in pairings.values())
    stays = await store.stays_of_patients(first.patient_ids, at=later)
    assert all(s.start_at == T0 - timedelta(days=2) for s in stays.values())
    for patient_id in first.patient_ids:
        members = [m.member_id for m in await store.list_care_team(patient_id, at=later)]
        assert len(members) == len(set(members))
    assert len(await store.list_devices()) == len(first.device_ids)


async def test_bench_unit_is_seeded_with_one_paired_monitor_per_bed(store: Store) -> None:
    unit = await seed_bench_unit(store, n_beds=12, now=T0)
    assert unit == bench_unit(12)
    pairings = await store.pairings_of_devices([b.monitor_id for b in unit.beds])
    assert {b.monitor_id: pairings[b.monitor_id][0].patient_id for b in unit.beds} == {
        b.monitor_id: b.patient_id for b in unit.beds
    }
