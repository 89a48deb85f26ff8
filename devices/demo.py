"""Idempotent seeding of the demo unit ("Demo sykestue" plus a home programme) and of benchmark units."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.store import Store
from core.types import (
    Bed,
    CareSetting,
    CareTeamMember,
    CareTeamRole,
    DeviceKind,
    Patient,
    Site,
    SiteKind,
    SpO2Scale,
    SpO2ScaleDecision,
    Stay,
    Ward,
)
from devices.registry import pair_device, register_device

__all__ = [
    "DEMO_SCALE2_SET_BY",
    "DemoBed",
    "DemoHomePatient",
    "DemoUnit",
    "bench_monitor_id",
    "bench_unit",
    "demo_unit",
    "seed_bench_unit",
    "seed_demo_unit",
]

logger = logging.getLogger(__name__)

DEMO_SITE_ID = "demo-sykestue"
DEMO_WARD_ID = "demo-sykestue-a"
DEMO_HOME_SITE_ID = "demo-hjemme"
DEMO_HOME_WARD_ID = "demo-hjemme-program"
DEMO_SCALE2_SET_BY = "demo-dr-lungelege"  # the named doctor who prescribed SpO2 scale 2 (a staff user id)
_DETERIORATING_BED = 3  # a middle bed, so the change stands out on the ward page
_MUNICIPALITY = "Demo kommune"
_HOSPITAL = "Demo universitetssykehus"
# Obviously fictional names: the demo must never look like a real patient list.
_BED_PATIENTS = (
    ("Demo Testesen", 1941),
    ("Fiktiv Prøvesdatter", 1936),
    ("Ola Simulert", 1948),
    ("Kari Eksempel", 1952),
    ("Per Attrapp", 1939),
    ("Gunn Testdukke", 1945),
)
_HOME_PATIENTS = (
    ("Hjemme Demosen", 1950),  # COPD with hypercapnic respiratory failure: SpO2 scale 2, home oxygen
    ("Fiktiv Hjemmesen", 1971),  # followed by a FACT team
    ("Test Oppfølgingsen", 1983),  # in opioid agonist treatment (LAR)
    ("Prøve Heimbuar", 1944),
)


@dataclass(frozen=True, slots=True)
class DemoBed:
    bed_id: str
    patient_id: str
    monitor_id: str  # bedside monitor: HR, RR, SpO2 every second, BP and temperature now and then
    chart_id: str | None  # the bed's charting terminal: ACVPU and oxygen entered by a nurse


@dataclass(frozen=True, slots=True)
class DemoHomePatient:
    patient_id: str
    kit_id: str  # home kit: spot checks a few times a day


@dataclass(frozen=True, slots=True)
class DemoUnit:
    """Ids of what was seeded, so the simulator, the launcher and tests agree on them."""

    site_id: str
    ward_id: str
    beds: tuple[DemoBed, ...]
    home_site_id: str | None = None
    home_ward_id: str | None = None
    home_patients: tuple[DemoHomePatient, ...] = ()
    deteriorating_patient_id: str | None = None
    scale2_patient_id: str | None = None

    @property
    def site_ids(self) -> tuple[str, ...]:
        return (self.site_id,) if self.home_site_id is None else (self.site_id, self.home_site_id)

    @property
    def patient_ids(self) -> tuple[str, ...]:
        return tuple(b.patient_id for b in self.beds) + tuple(h.patient_id for h in self.home_patients)

    @property
    def device_ids(self) -> tuple[str, ...]:
        bedside = tuple(d for b in self.beds for d in (b.monitor_id, b.chart_id) if d is not None)
        return bedside + tuple(h.kit_id for h in self.home_patients)


async def seed_demo_unit(store: Store, *, now: datetime) -> DemoUnit:
    """Create (or find, when seeded before) the demo unit: 6 monitored beds and 4 home patients, with care teams.

    Running it again changes nothing that exists: open stays, pairings, care-team members and the scale-2
    decision are kept, so readings from an earlier run stay attributed.
    """
    unit = demo_unit()
    await store.upsert_site(Site(DEMO_SITE_ID, "Demo sykestue", SiteKind.SYKESTUE))
    await store.upsert_ward(Ward(DEMO_WARD_ID, DEMO_SITE_ID, "Sengepost A"))
    await store.upsert_site(Site(DEMO_HOME_SITE_ID, "Demo hjemmeoppfølging", SiteKind.HOME_PROGRAMME))
    await store.upsert_ward(Ward(DEMO_HOME_WARD_ID, DEMO_HOME_SITE_ID, "Digital hjemmeoppfølging"))
    for index, bed in enumerate(unit.beds, start=1):
        name, born = _BED_PATIENTS[index - 1]
        await store.upsert_bed(Bed(bed.bed_id, DEMO_WARD_ID, f"Seng {index}"))
        await store.upsert_patient(Patient(bed.patient_id, name, born))
    for index, home in enumerate(unit.home_patients):
        name, born = _HOME_PATIENTS[index]
        await store.upsert_patient(Patient(home.patient_id, name, born))
    await _seed_stays(store, unit, now)
    await _seed_care_teams(store, unit, now)
    await _seed_devices(store, unit, now)
    assert unit.scale2_patient_id is not None
    if await store.get_spo2_scale(unit.scale2_patient_id) is None:
        decision = SpO2ScaleDecision(unit.scale2_patient_id, SpO2Scale.SCALE_2, DEMO_SCALE2_SET_BY, now)
        await store.set_spo2_scale(decision)
    logger.info("Demo unit seeded: %d beds, %d home patients", len(unit.beds), len(unit.home_patients))
    return unit


def bench_monitor_id(index: int) -> str:
    """Device id of bench bed `index` (0-based); make_bench_packs publishes as these devices."""
    return f"bench-mon-{index:05d}"


def bench_unit(n_beds: int, *, site_id: str = "bench") -> DemoUnit:
    """The ids of a benchmark unit: `n_beds` beds with one monitor each, no charting terminals, no home patients."""
    beds = tuple(
        DemoBed(f"{site_id}-bed-{i:05d}", f"{site_id}-pat-{i:05d}", bench_monitor_id(i), None) for i in range(n_beds)
    )
    return DemoUnit(site_id=site_id, ward_id=f"{site_id}-ward", beds=beds)


async def seed_bench_unit(store: Store, *, n_beds: int, now: datetime, site_id: str = "bench") -> DemoUnit:
    """Seed `bench_unit(n_beds)` (idempotent), so the ingest attributes make_bench_packs' readings."""
    unit = bench_unit(n_beds, site_id=site_id)
    await store.upsert_site(Site(site_id, f"Benchmark {n_beds} beds", SiteKind.KAD))
    await store.upsert_ward(Ward(unit.ward_id, site_id, "Benchmark ward"))
    for index, bed in enumerate(unit.beds):
        await store.upsert_bed(Bed(bed.bed_id, unit.ward_id, f"Bench {index}"))
        await store.upsert_patient(Patient(bed.patient_id, f"Bench patient {index}"))
    await _seed_stays(store, unit, now)
    await _seed_devices(store, unit, now)
    return unit


def demo_unit() -> DemoUnit:
    beds = tuple(
        DemoBed(f"{DEMO_SITE_ID}-seng-{i}", f"demo-pasient-{i}", f"demo-monitor-{i}", f"demo-kurve-{i}")
        for i in range(1, len(_BED_PATIENTS) + 1)
    )
    homes = tuple(
        DemoHomePatient(f"demo-hjemme-pasient-{i}", f"demo-hjemmekit-{i}") for i in range(1, len(_HOME_PATIENTS) + 1)
    )
    return DemoUnit(
        site_id=DEMO_SITE_ID,
        ward_id=DEMO_WARD_ID,
        beds=beds,
        home_site_id=DEMO_HOME_SITE_ID,
        home_ward_id=DEMO_HOME_WARD_ID,
        home_patients=homes,
        deteriorating_patient_id=beds[_DETERIORATING_BED - 1].patient_id,
        scale2_patient_id=homes[0].patient_id,
    )


async def _seed_stays(store: Store, unit: DemoUnit, now: datetime) -> None:
    open_stays = await store.stays_of_patients(unit.patient_ids, at=now)
    admitted_at = now - timedelta(days=2)  # admitted before the demo starts, as on a real ward
    for bed in unit.beds:
        if bed.patient_id not in open_stays:
            stay_id = f"stay-{bed.patient_id}-{admitted_at:%Y%m%d%H%M%S}"
            await store.add_stay(
                Stay(stay_id, bed.patient_id, unit.ward_id, CareSetting.BEDSIDE, admitted_at, bed_id=bed.bed_id)
            )
    for home in unit.home_patients:
        if home.patient_id not in open_stays:
            assert unit.home_ward_id is not None
            stay_id = f"stay-{home.patient_id}-{admitted_at:%Y%m%d%H%M%S}"
            await store.add_stay(Stay(stay_id, home.patient_id, unit.home_ward_id, CareSetting.HOME, admitted_at))


async def _seed_devices(store: Store, unit: DemoUnit, now: datetime) -> None:
    registered_at = now - timedelta(days=30)
    # Paired an hour ago: home spot checks carry measurement times from before the demo started, and those belong
    # to the patient too (attribution is by the reading's own time); a home kit is not "silent" after one hour.
    paired_at = now - timedelta(hours=1)
    for bed in unit.beds:
        monitor_model = "Demo VitalMonitor 500"
        await _device(store, bed.monitor_id, unit.site_id, DeviceKind.BEDSIDE_MONITOR, monitor_model, registered_at)
        await pair_device(store, device_id=bed.monitor_id, patient_id=bed.patient_id, bed_id=bed.bed_id, at=paired_at)
        if bed.chart_id is not None:
            await _device(store, bed.chart_id, unit.site_id, DeviceKind.NURSE_TABLET, "Demo Kurve app", registered_at)
            await pair_device(store, device_id=bed.chart_id, patient_id=bed.patient_id, bed_id=bed.bed_id, at=paired_at)
    for home in unit.home_patients:
        assert unit.home_site_id is not None
        await _device(store, home.kit_id, unit.home_site_id, DeviceKind.HOME_KIT, "Demo HjemmeKit 2", registered_at)
        await pair_device(store, device_id=home.kit_id, patient_id=home.patient_id, at=paired_at)


async def _device(store: Store, device_id: str, site_id: str, kind: DeviceKind, model: str, at: datetime) -> None:
    await register_device(store, device_id=device_id, site_id=site_id, kind=kind, model=model, at=at)


def _team(patient_id: str, member_id: str, role: CareTeamRole, organisation: str, at: datetime) -> CareTeamMember:
    return CareTeamMember(patient_id, member_id, role, organisation, at)


async def _seed_care_teams(store: Store, unit: DemoUnit, now: datetime) -> None:
    since = now - timedelta(days=2)
    wanted: list[CareTeamMember] = []
    for bed in unit.beds:
        wanted += [
            _team(bed.patient_id, "demo-fastlege-1", CareTeamRole.GP, "Demo legekontor", since),
            _team(bed.patient_id, "demo-tilsynslege", CareTeamRole.SUPERVISING_DOCTOR, _MUNICIPALITY, since),
            _team(bed.patient_id, "demo-sykepleier-a", CareTeamRole.MUNICIPAL_NURSE, _MUNICIPALITY, since),
        ]
    for home in unit.home_patients:
        wanted += [
            _team(home.patient_id, "demo-fastlege-2", CareTeamRole.GP, "Demo legekontor", since),
            _team(home.patient_id, "demo-hjemmesykepleier", CareTeamRole.MUNICIPAL_NURSE, _MUNICIPALITY, since),
            _team(home.patient_id, "demo-koordinator", CareTeamRole.HOME_COORDINATOR, _MUNICIPALITY, since),
        ]
    copd, fact, lar = (h.patient_id for h in unit.home_patients[:3])
    wanted += [
        _team(copd, DEMO_SCALE2_SET_BY, CareTeamRole.HOSPITAL_SPECIALIST, _HOSPITAL, since),
        _team(fact, "demo-fact-team", CareTeamRole.FACT_TEAM, "FACT Demo", since),
        _team(lar, "demo-lar-team", CareTeamRole.LAR_TEAM, "LAR Demo poliklinikk", since),
        _team(lar, "demo-russpesialist", CareTeamRole.HOSPITAL_SPECIALIST, _HOSPITAL, since),
    ]
    for patient_id in unit.patient_ids:
        present = {m.member_id for m in await store.list_care_team(patient_id, at=now)}
        for member in wanted:
            if member.patient_id == patient_id and member.member_id not in present:
                await store.add_care_team_member(member)
