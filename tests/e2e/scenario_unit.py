"""A small unit for the scenario end-to-end tests: a KAD site with beds and a home programme with kits, seeded in a
real store, and the people on call and in the patients' teams reachable through a real webhook receiver."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

from core.care_flags import CareFlag, CareFlagChange
from core.escalation import ContactPoint, WebhookEndpoint
from core.oncall import OnCallRole, Rotation
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
    Stay,
    Ward,
)
from devices.demo import DemoBed, DemoHomePatient, DemoUnit
from devices.registry import pair_device, register_device

__all__ = ["GATEWAY_SECRET", "UNIT_NURSE", "flag", "join_team", "on_call", "scenario_unit", "seed", "seeded_since"]

UNIT_NURSE = "nurse-kad"
GATEWAY_SECRET = b"receiver-secret-" + b"e" * 24  # the pager gateway's (tests/e2e/conftest.py `receiver`)


def scenario_unit(*, beds: int = 0, homes: int = 0) -> DemoUnit:
    """Ids of a KAD unit with `beds` monitored beds (monitor and charting tablet) and `homes` home patients."""
    return DemoUnit(
        site_id="e2e-kad",
        ward_id="e2e-kad-ward",
        beds=tuple(DemoBed(f"e2e-bed-{i}", f"e2e-bed-pat-{i}", f"e2e-mon-{i}", f"e2e-chart-{i}") for i in range(beds)),
        home_site_id="e2e-home",
        home_ward_id="e2e-home-ward",
        home_patients=tuple(DemoHomePatient(f"e2e-home-pat-{i}", f"e2e-kit-{i}") for i in range(homes)),
    )


async def seed(store: Store, unit: DemoUnit, *, since: datetime) -> None:
    """Sites, wards, beds, patients, stays and paired devices, all from `since` (before the first reading)."""
    assert unit.home_site_id is not None and unit.home_ward_id is not None
    await store.upsert_site(Site(unit.site_id, "KAD e2e", SiteKind.KAD))
    await store.upsert_ward(Ward(unit.ward_id, unit.site_id, "KAD-senger"))
    await store.upsert_site(Site(unit.home_site_id, "Hjemmeoppfølging e2e", SiteKind.HOME_PROGRAMME))
    await store.upsert_ward(Ward(unit.home_ward_id, unit.home_site_id, "Digital hjemmeoppfølging"))
    for n, bed in enumerate(unit.beds, start=1):
        await store.upsert_bed(Bed(bed.bed_id, unit.ward_id, f"Seng {n}"))
        await store.upsert_patient(Patient(bed.patient_id, f"Testpasient seng {n}"))
        await store.add_stay(
            Stay(f"stay-{bed.patient_id}", bed.patient_id, unit.ward_id, CareSetting.BEDSIDE, since, bed_id=bed.bed_id)
        )
        for device_id, kind in ((bed.monitor_id, DeviceKind.BEDSIDE_MONITOR), (bed.chart_id, DeviceKind.NURSE_TABLET)):
            assert device_id is not None
            await register_device(store, device_id=device_id, site_id=unit.site_id, kind=kind, model="sim", at=since)
            await pair_device(store, device_id=device_id, patient_id=bed.patient_id, bed_id=bed.bed_id, at=since)
    for n, home in enumerate(unit.home_patients, start=1):
        await store.upsert_patient(Patient(home.patient_id, f"Testpasient hjemme {n}"))
        await store.add_stay(
            Stay(f"stay-{home.patient_id}", home.patient_id, unit.home_ward_id, CareSetting.HOME, since)
        )
        await register_device(
            store, device_id=home.kit_id, site_id=unit.home_site_id, kind=DeviceKind.HOME_KIT, model="sim", at=since
        )
        await pair_device(store, device_id=home.kit_id, patient_id=home.patient_id, at=since)


async def flag(store: Store, patient_id: str, care_flag: CareFlag, *, at: datetime) -> None:
    await store.set_care_flags([CareFlagChange(patient_id, care_flag, True, "e2e scenario", "dr-e2e", at)])


async def join_team(
    store: Store, patient_ids: Sequence[str], member_id: str, role: CareTeamRole, *, at: datetime
) -> None:
    for patient_id in patient_ids:
        await store.add_care_team_member(CareTeamMember(patient_id, member_id, role, "e2e team", at))


async def on_call(
    store: Store, site_id: str, *, url: str, people: Sequence[str], secret: bytes = GATEWAY_SECRET
) -> None:
    """UNIT_NURSE on call for `site_id` round the clock; everyone in `people` (and the nurse) reachable at `url`."""
    await store.upsert_webhook_endpoint(WebhookEndpoint("gw", url, secret, "e2e gateway"))
    rotation = Rotation(0, "KAD nurse", OnCallRole.UNIT_NURSE, frozenset({site_id}), (time(8),), (UNIT_NURSE,),
                        date(2020, 1, 1))  # fmt: skip
    await store.add_rotation(rotation)
    for person in (UNIT_NURSE, *people):
        await store.set_contact_points(person, [ContactPoint(person, "gw", f"pager-{person}")])


def seeded_since(now: datetime) -> datetime:
    return now - timedelta(days=8)
