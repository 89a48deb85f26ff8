"""The ward board read from the store: every bed with its patient, vitals, scores, alerts and devices."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from core.length_of_stay import limit_due_at, limit_of
from core.store import Store
from core.types import Alert, Device, DeviceStatus, Pairing, Stay, Ward
from dashboard_api.escalation_words import escalation_states
from dashboard_api.schemas import (
    AlertOut,
    BedView,
    DeviceOut,
    DeviceStatusOut,
    PatientSummary,
    RiskOut,
    ScoreOut,
    VitalOut,
    WardOut,
    WardSnapshot,
)

__all__ = ["DeviceFacts", "device_facts", "device_out", "ward_snapshot"]

HOME_LABEL = "Home"
_DIGITS = re.compile(r"(\d+)")


def _natural(label: str) -> tuple[tuple[int, str], ...]:
    """'Seng 2' before 'Seng 10'."""
    return tuple((int(part), "") if part.isdigit() else (-1, part.lower()) for part in _DIGITS.split(label))


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    """Devices of some sites with their open pairing, newest status and newest reading time."""

    devices: list[Device]
    open_pairing: dict[str, Pairing]
    status: dict[str, DeviceStatus]
    last_reading_at: dict[str, datetime]


async def device_facts(store: Store, *, site_ids: Sequence[str] | None, at: datetime) -> DeviceFacts:
    devices = await store.list_devices(site_ids=site_ids)
    ids = [d.device_id for d in devices]
    if not ids:
        return DeviceFacts([], {}, {}, {})
    pairings = await store.pairings_of_devices(ids)
    open_pairing = {device_id: p for device_id, history in pairings.items() for p in history if p.covers(at)}
    statuses = {s.device_id: s for s in await store.list_device_status(device_ids=ids)}
    return DeviceFacts(devices, open_pairing, statuses, await store.last_reading_at(ids))


def device_out(device: Device, facts: DeviceFacts) -> DeviceOut:
    status = facts.status.get(device.device_id)
    pairing = facts.open_pairing.get(device.device_id)
    return DeviceOut(
        device_id=device.device_id,
        kind=device.kind.value,
        site_id=device.site_id,
        model=device.model,
        registered_at=device.registered_at,
        online=status.online if status else None,
        battery_percent=status.battery_percent if status else None,
        signal_dbm=status.signal_dbm if status else None,
        reported_at=status.reported_at if status else None,
        firmware=status.firmware if status else None,
        last_reading_at=facts.last_reading_at.get(device.device_id),
        paired_patient_id=pairing.patient_id if pairing else None,
        paired_bed_id=pairing.bed_id if pairing else None,
        paired_since=pairing.start_at if pairing else None,
    )


def _status_out(device: Device, facts: DeviceFacts) -> DeviceStatusOut:
    full = device_out(device, facts)
    return DeviceStatusOut(
        device_id=full.device_id,
        kind=full.kind,
        online=full.online,
        battery_percent=full.battery_percent,
        signal_dbm=full.signal_dbm,
        reported_at=full.reported_at,
        last_reading_at=full.last_reading_at,
    )


async def ward_snapshot(store: Store, ward: Ward, *, at: datetime, only: Collection[str] | None = None) -> WardSnapshot:
    """Beds in label order (empty ones too), then patients monitored at home, by name. With `only` (a care-team
    grant), only the beds and homes of those patients: no other patient, no empty bed."""
    beds = await store.list_beds(ward.ward_id)
    stays = await store.list_stays(ward_id=ward.ward_id, at=at)
    if only is not None:
        stays = [s for s in stays if s.patient_id in only]
        beds = [b for b in beds if b.bed_id in {s.bed_id for s in stays}]
    patient_ids = [s.patient_id for s in stays]
    patients = await store.get_patients(patient_ids)
    latest = await store.latest_values(patient_ids) if patient_ids else {}
    scores = await store.current_scores(patient_ids) if patient_ids else {}
    risks = await store.current_risks(patient_ids) if patient_ids else {}
    alerts = await store.list_alerts(ward_ids=[ward.ward_id])
    escalations = await escalation_states(store, alerts, now=at)
    facts = await device_facts(store, site_ids=[ward.site_id], at=at)
    stay_limit = limit_of((await store.get_site(ward.site_id)).kind)
    # Each patient's alerts and devices, in the order listed: one pass, not one per bed (a 1000-bed board).
    alerts_of: dict[str, list[Alert]] = {}
    for alert in alerts:
        if alert.patient_id is not None:
            alerts_of.setdefault(alert.patient_id, []).append(alert)
    devices_of: dict[str, list[Device]] = {}
    for device in facts.devices:
        if (pairing := facts.open_pairing.get(device.device_id)) is not None:
            devices_of.setdefault(pairing.patient_id, []).append(device)

    def view(stay: Stay | None, *, bed_id: str | None, label: str) -> BedView:
        pid = stay.patient_id if stay else None
        mine = alerts_of.get(pid, []) if pid else []
        return BedView(
            bed_id=bed_id,
            label=label,
            setting=stay.setting.value if stay else "bedside",
            patient=PatientSummary.of(patients[pid]) if pid else None,
            stay_id=stay.stay_id if stay else None,
            admitted_at=stay.length_from if stay else None,
            stay_limit_at=limit_due_at(stay_limit, stay.length_from) if stay and stay_limit else None,
            vitals=[VitalOut.of(v, at=at) for v in latest.get(pid, {}).values()] if pid else [],
            news2=ScoreOut.of(scores[pid]) if pid in scores else None,
            risk=RiskOut.of(risks[pid]) if pid in risks else None,
            alerts=[AlertOut.of(a) for a in mine],
            devices=[_status_out(d, facts) for d in devices_of.get(pid, [])] if pid else [],
            escalations=[escalations[a.alert_id] for a in mine],
        )

    by_bed = {s.bed_id: s for s in stays if s.bed_id is not None}
    board = [
        view(by_bed.get(b.bed_id), bed_id=b.bed_id, label=b.label)
        for b in sorted(beds, key=lambda b: _natural(b.label))
    ]
    at_home = sorted((s for s in stays if s.bed_id is None), key=lambda s: patients[s.patient_id].display_name)
    board += [view(s, bed_id=None, label=HOME_LABEL) for s in at_home]
    return WardSnapshot(ward=WardOut.of(ward), at=at, beds=board)
