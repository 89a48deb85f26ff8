"""Device silence, Last Will and battery tracking: raises and resolves device alerts, and the technician's report."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from core.onboarding import DEVICE_TYPES
from core.store import AlertChange, Store
from core.types import (
    SYSTEM_ACTOR,
    Alert,
    AlertKind,
    AlertSeverity,
    AlertState,
    CareSetting,
    Device,
    DeviceKind,
    DeviceStatus,
    Pairing,
    Stay,
)

__all__ = [
    "BATTERY_RESOLVE_MARGIN_PERCENT",
    "CLOCK_SKEW_WINDOW",
    "HOME_SILENT_AFTER_S",
    "DeviceHealth",
    "already_raised",
    "check_device_health",
    "device_health_report",
    "silent_after_s_of",
]

logger = logging.getLogger(__name__)

# A home kit sends a few spot checks a day, often at irregular times (a patient measures late, skips an evening).
# Its type's interval (26 h: one missed daily check plus two hours of slack) holds for any device at home.
HOME_SILENT_AFTER_S = DEVICE_TYPES[DeviceKind.HOME_KIT].expected_interval_s
# A battery alert resolves only when the battery is this far above the threshold, so a reading that wobbles
# around the threshold (batteries report in steps, and drop under load) does not open and close alerts all day.
BATTERY_RESOLVE_MARGIN_PERCENT = 5.0
# A silent bedside monitor means an unmonitored patient: NEWS2 cannot alert for them, so a nurse should look
# within the hour, like a single-parameter 3 (low-medium). A silent home kit is followed up in office hours.
SILENT_SEVERITY = {CareSetting.BEDSIDE: AlertSeverity.LOW_MEDIUM, CareSetting.HOME: AlertSeverity.INFO}
# A low battery is a chore, not a clinical event; if nobody charges it, it becomes a silent-device alert.
BATTERY_LOW_SEVERITY = AlertSeverity.INFO
# A paired device silent because its readings arrive dated in the future (dead-lettered) is a clock problem: the
# last hour of its dead letters tells the two apart.
CLOCK_SKEW_WINDOW = timedelta(hours=1)
# Manual-entry devices send only when a nurse charts something: their quiet is not a fault.
_MANUAL_ENTRY = frozenset({DeviceKind.NURSE_TABLET})
_UNRESOLVED = (AlertState.OPEN, AlertState.ACKNOWLEDGED)
_ALERT_LIST_LIMIT = 100_000
_T = TypeVar("_T")
# Device alerts are raised and resolved this many to a transaction (row locks held for a bounded time).
WRITE_CHUNK = 200
# The device alert kinds, and why each resolves when its problem is gone.
_RECOVERED_BECAUSE = {
    AlertKind.DEVICE_SILENT: "reporting again",
    AlertKind.DEVICE_BATTERY_LOW: "battery recovered, or device unpaired",
}


@dataclass(frozen=True, slots=True)
class DeviceHealth:
    """One row of the technician's view. `silent_for_s` counts from the last reading (None: never sent one)."""

    device_id: str
    site_id: str
    kind: DeviceKind
    model: str
    online: bool | None  # None: no status message received yet
    last_reading_at: datetime | None
    silent_for_s: float | None
    battery_percent: float | None
    signal_dbm: float | None
    firmware: str | None
    status_reported_at: datetime | None
    patient_id: str | None
    bed_id: str | None
    ward_id: str | None
    paired_since: datetime | None


@dataclass(frozen=True, slots=True)
class _Watched:
    """A device paired at `now`, with what the checks need."""

    device: Device
    pairing: Pairing
    stay: Stay | None
    status: DeviceStatus | None
    last_reading_at: datetime | None
    future_rejections: int = 0  # its messages dead-lettered as dated in the future in the last CLOCK_SKEW_WINDOW


async def check_device_health(
    store: Store,
    *,
    now: datetime,
    silent_after_s: float,
    battery_low_percent: float,
    home_silent_after_s: float = HOME_SILENT_AFTER_S,
    judge_silence: Callable[[], bool] = lambda: True,
) -> list[AlertChange]:
    """Raise DEVICE_SILENT / DEVICE_BATTERY_LOW for paired devices and resolve those that recovered.

    Silent: nothing measured for silent_after_s_of its kind and stay (its type's expected interval, at least
    `silent_after_s` at a bedside or `home_silent_after_s` at home), counted from the later of the last reading and
    the pairing start; or the last status says offline (Last Will) and no reading
    came after it. Alerts of devices no longer paired are resolved too. Returns the alerts that changed.
    `judge_silence` (devices/silence_gate.py), asked once the store is read: False raises no silent alert and
    resolves none of a device still silent.
    """
    watched = await _watched_devices(store, now)
    open_alerts = await _open_device_alerts(store)
    new_silence = judge_silence()
    raises: list[Alert] = []
    still_bad: set[tuple[str, str | None, AlertKind]] = set()  # (device, patient, kind) whose problem persists
    for item in watched:
        key = (item.device.device_id, item.pairing.patient_id)
        silence = _silence_problem(item, now, silent_after_s=silent_after_s, home_silent_after_s=home_silent_after_s)
        if silence is not None:
            still_bad.add((*key, AlertKind.DEVICE_SILENT))
            severity = _silent_severity(item)
            if new_silence and not already_raised(open_alerts.get((*key, AlertKind.DEVICE_SILENT)), severity):
                raises.append(_proposed(item, AlertKind.DEVICE_SILENT, severity, silence, now))
        battery = item.status.battery_percent if item.status is not None else None
        alert = open_alerts.get((*key, AlertKind.DEVICE_BATTERY_LOW))
        if battery is not None and battery < battery_low_percent:
            still_bad.add((*key, AlertKind.DEVICE_BATTERY_LOW))
            message = f"{_label(item)}: battery at {battery:.0f} %, charge or replace it"
            if not already_raised(alert, BATTERY_LOW_SEVERITY):
                raises.append(_proposed(item, AlertKind.DEVICE_BATTERY_LOW, BATTERY_LOW_SEVERITY, message, now))
        elif alert is not None and (battery is None or battery < battery_low_percent + BATTERY_RESOLVE_MARGIN_PERCENT):
            still_bad.add((*key, AlertKind.DEVICE_BATTERY_LOW))  # unknown or not clearly recovered: keep it open
    recovered = [alert for key, alert in open_alerts.items() if key not in still_bad]
    changes = await _raise_all(store, raises) + await _resolve_all(store, recovered, now)
    return [change for change in changes if change.changed]


async def _raise_all(store: Store, proposed: Sequence[Alert]) -> list[AlertChange]:
    # A ward's devices fall silent, and come back, together (a network outage): a transaction per chunk of alerts.
    changes: list[AlertChange] = []
    for chunk in _chunks(proposed):
        raised = await store.raise_alerts(chunk)
        for change in raised:
            if change.changed:
                alert = change.alert
                logger.warning("Device %s: %s alert %d raised", alert.device_id, alert.kind.value, alert.alert_id)
        changes += raised
    return changes


def _chunks(items: Sequence[_T]) -> list[Sequence[_T]]:
    return [items[start : start + WRITE_CHUNK] for start in range(0, len(items), WRITE_CHUNK)]


async def _resolve_all(store: Store, alerts: Sequence[Alert], now: datetime) -> list[AlertChange]:
    changes: list[AlertChange] = []
    for kind, why in _RECOVERED_BECAUSE.items():
        for chunk in _chunks([alert.alert_id for alert in alerts if alert.kind is kind]):
            resolved = await store.resolve_alerts(chunk, at=now, by=SYSTEM_ACTOR, reason=why)
            for change in resolved:
                alert = change.alert
                logger.info("Resolved %s alert %d of device %s", alert.kind.value, alert.alert_id, alert.device_id)
            changes += resolved
    return changes


async def device_health_report(store: Store, site_ids: Sequence[str], now: datetime) -> list[DeviceHealth]:
    """Every device of the sites, with its status, silence and pairing at `now`, ordered by device id."""
    devices = sorted(await store.list_devices(site_ids=list(site_ids)), key=lambda d: d.device_id)
    ids = [d.device_id for d in devices]
    pairings = await store.pairings_of_devices(ids)
    statuses = {s.device_id: s for s in await store.list_device_status(device_ids=ids)}
    last_readings = await store.last_reading_at(ids)
    paired = {i: p for i in ids if (p := _pairing_now(pairings.get(i, []), now)) is not None}
    stays = await store.stays_of_patients(sorted({p.patient_id for p in paired.values()}), at=now)
    rows: list[DeviceHealth] = []
    for device in devices:
        status = statuses.get(device.device_id)
        pairing = paired.get(device.device_id)
        stay = stays.get(pairing.patient_id) if pairing is not None else None
        last = last_readings.get(device.device_id)
        rows.append(
            DeviceHealth(
                device_id=device.device_id,
                site_id=device.site_id,
                kind=device.kind,
                model=device.model,
                online=status.online if status is not None else None,
                last_reading_at=last,
                silent_for_s=(now - last).total_seconds() if last is not None else None,
                battery_percent=status.battery_percent if status is not None else None,
                signal_dbm=status.signal_dbm if status is not None else None,
                firmware=status.firmware if status is not None else None,
                status_reported_at=status.reported_at if status is not None else None,
                patient_id=pairing.patient_id if pairing is not None else None,
                bed_id=pairing.bed_id if pairing is not None else None,
                ward_id=stay.ward_id if stay is not None else None,
                paired_since=pairing.start_at if pairing is not None else None,
            )
        )
    return rows


async def _watched_devices(store: Store, now: datetime) -> list[_Watched]:
    devices = await store.list_devices()
    ids = [d.device_id for d in devices]
    pairings = await store.pairings_of_devices(ids)
    paired = {i: p for i in ids if (p := _pairing_now(pairings.get(i, []), now)) is not None}
    if not paired:
        return []
    paired_ids = sorted(paired)
    statuses = {s.device_id: s for s in await store.list_device_status(device_ids=paired_ids)}
    last_readings = await store.last_reading_at(paired_ids)
    stays = await store.stays_of_patients(sorted({p.patient_id for p in paired.values()}), at=now)
    rejected = await store.device_rejections(paired_ids, since=now - CLOCK_SKEW_WINDOW)
    return [
        _Watched(
            device=device,
            pairing=paired[device.device_id],
            stay=stays.get(paired[device.device_id].patient_id),
            status=statuses.get(device.device_id),
            last_reading_at=last_readings.get(device.device_id),
            future_rejections=r.in_future if (r := rejected.get(device.device_id)) is not None else 0,
        )
        for device in devices
        if device.device_id in paired
    ]


def _pairing_now(pairings: Sequence[Pairing], now: datetime) -> Pairing | None:
    covering = [p for p in pairings if p.covers(now)]
    return covering[-1] if covering else None


async def _open_device_alerts(store: Store) -> dict[tuple[str, str | None, AlertKind], Alert]:
    alerts = await store.list_alerts(states=_UNRESOLVED, kinds=list(_RECOVERED_BECAUSE), limit=_ALERT_LIST_LIMIT)
    return {(alert.device_id, alert.patient_id, alert.kind): alert for alert in alerts if alert.device_id is not None}


def already_raised(alert: Alert | None, severity: AlertSeverity) -> bool:
    """An unresolved alert at this severity or above: raising it again changes nothing (the store's rule, which
    tests/devices/test_health.py holds this to). A silent 1000-bed ward cost 1000 write transactions every check."""
    return alert is not None and alert.severity >= severity


def _silence_problem(item: _Watched, now: datetime, *, silent_after_s: float, home_silent_after_s: float) -> str | None:
    """Why the device counts as silent now, in words for the ward, or None when it does not."""
    last = item.last_reading_at
    status = item.status
    if status is not None and not status.online and (last is None or last <= status.reported_at):
        return f"{_label(item)} is offline (lost its connection)"
    bound_s = silent_after_s_of(
        item.device.kind, _setting(item), silent_after_s=silent_after_s, home_silent_after_s=home_silent_after_s
    )
    if bound_s is None:
        return None
    since = max(last, item.pairing.start_at) if last is not None else item.pairing.start_at
    quiet_s = (now - since).total_seconds()
    if quiet_s < bound_s:
        return None
    if item.future_rejections:  # it is sending, but its clock is wrong: say so, or someone checks the cabling
        return (
            f"{_label(item)}: clock wrong, its readings are dated in the future and rejected "
            f"({item.future_rejections} in the last hour); set its clock"
        )
    what = "nothing since pairing" if last is None or last < item.pairing.start_at else "no readings"
    return f"{_label(item)}: {what} for more than {_duration(quiet_s)}"


def silent_after_s_of(
    kind: DeviceKind, setting: CareSetting, *, silent_after_s: float, home_silent_after_s: float
) -> float | None:
    """How long a paired device of this kind may send nothing before it is called silent (None: never, it is
    manual entry). Never sooner than its type's expected interval (core/onboarding.py, DEVICE_TYPES), so a BP cuff
    used on the 4-hourly round is not silent minutes after each round; `silent_after_s` (bedside) and
    `home_silent_after_s` (home stay) are the floors for a device that streams."""
    if kind in _MANUAL_ENTRY:
        return None
    floor_s = home_silent_after_s if setting is CareSetting.HOME else silent_after_s
    return max(floor_s, DEVICE_TYPES[kind].expected_interval_s)


def _setting(item: _Watched) -> CareSetting:
    return item.stay.setting if item.stay is not None else CareSetting.BEDSIDE


def _silent_severity(item: _Watched) -> AlertSeverity:
    return SILENT_SEVERITY[_setting(item)]


def _label(item: _Watched) -> str:
    where = f" in bed {item.pairing.bed_id}" if item.pairing.bed_id else ""
    return f"Device {item.device.device_id}{where}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _proposed(item: _Watched, kind: AlertKind, severity: AlertSeverity, message: str, now: datetime) -> Alert:
    ward_id = item.stay.ward_id if item.stay is not None else None
    return Alert(
        0, item.pairing.patient_id, ward_id, kind, severity, AlertState.OPEN, message, now, now,
        device_id=item.device.device_id,
    )  # fmt: skip
