"""The technician's view of a fleet: every device of some sites, in stock or in use, with what needs a technician.

No clinical values and no patient names: where a device is, is a bed's label or "home kit of a patient in <ward>".
Builds on devices/health.py's report (status, last reading, pairing) and adds onboarding, credentials and the
technical problems: silent beyond its type's expected interval (in stock too), battery low, poor signal,
credentials or calibration about to run out, and the device alerts the health checker raised.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.onboarding import DEVICE_TYPES, DeviceLifecycle, Rejections
from core.store import Store
from core.types import AlertKind, AlertState
from devices.health import DeviceHealth, device_health_report
from devices.onboarding import lifecycle

__all__ = [
    "CREDENTIAL_WARNING",
    "POOR_SIGNAL_DBM",
    "REJECTIONS_WINDOW",
    "FleetDevice",
    "Problem",
    "ProblemKind",
    "fleet_report",
    "heard_from",
]

# Below -90 dBm a Wi-Fi or LTE link drops packets often enough that readings arrive late (resent) or the device
# falls off the network; the technician should move the device or its access point before it goes silent.
POOR_SIGNAL_DBM = -90.0
# A month's warning: time to plan the visit that rotates a credential or calibrates a device.
CREDENTIAL_WARNING = timedelta(days=30)
CALIBRATION_WARNING = timedelta(days=30)
# Rejected messages are looked at over the last day: long enough to catch a home kit's daily check, short enough
# that a fixed problem clears by the next day.
REJECTIONS_WINDOW = timedelta(hours=24)
# More rejected readings than this in the window (other than clock problems) is a device sending bad data.
REJECTION_SPIKE = 10
_DEVICE_ALERTS = (AlertKind.DEVICE_SILENT, AlertKind.DEVICE_BATTERY_LOW)


class ProblemKind(enum.StrEnum):
    SILENT = "silent"
    CLOCK_SKEW = "clock_skew"
    REJECTED_READINGS = "rejected_readings"
    BATTERY_LOW = "battery_low"
    POOR_SIGNAL = "poor_signal"
    CREDENTIALS_EXPIRING = "credentials_expiring"
    CALIBRATION_DUE = "calibration_due"
    ALERT = "alert"  # a device alert raised by the health checker: acknowledgeable


@dataclass(frozen=True, slots=True)
class Problem:
    kind: ProblemKind
    text: str
    alert_id: int | None = None
    alert_state: AlertState | None = None


@dataclass(frozen=True, slots=True)
class FleetDevice:
    """One row of the technician's page."""

    health: DeviceHealth
    lifecycle: DeviceLifecycle
    serial: str | None
    online: bool | None  # None: never heard from
    last_seen_at: datetime | None
    placement: str
    credential_issued_at: datetime | None
    credential_expires_at: datetime | None
    calibration_due_at: datetime | None
    expected_interval_s: int
    problems: tuple[Problem, ...]


async def fleet_report(store: Store, site_ids: Sequence[str], *, battery_low_percent: float, now: datetime
                       ) -> list[FleetDevice]:  # fmt: skip
    rows = await device_health_report(store, site_ids, now)
    ids = [row.device_id for row in rows]
    if not ids:
        return []
    profiles = await store.device_profiles(ids)
    credentials = await store.current_credentials(ids)
    alerts = [a for a in await store.list_alerts(kinds=_DEVICE_ALERTS) if a.device_id in set(ids)]
    rejected = await store.device_rejections(ids, since=now - REJECTIONS_WINDOW)
    places = await _places(store, rows)
    result: list[FleetDevice] = []
    for row in rows:
        profile, credential = profiles.get(row.device_id), credentials.get(row.device_id)
        rejections = rejected.get(row.device_id)
        # A dead-lettered message (e.g. a reading of a device not paired yet) is contact too.
        heard = [t for t in (row.last_reading_at, row.status_reported_at, rejections and rejections.last_at) if t]
        last_seen = max(heard) if heard else None
        interval = DEVICE_TYPES[row.kind].expected_interval_s
        # The last status said offline (its Last Will) and no reading came after it.
        reported_at, read_at = row.status_reported_at, row.last_reading_at
        went_offline = row.online is False and (read_at is None or (reported_at is not None and read_at <= reported_at))
        online = None if last_seen is None else (now - last_seen).total_seconds() <= interval and not went_offline
        problems = _problems(row, last_seen=last_seen, online=online, interval_s=interval, now=now,
                             battery_low_percent=battery_low_percent)  # fmt: skip
        if credential is not None and credential.expires_at - now <= CREDENTIAL_WARNING:
            problems.append(
                Problem(ProblemKind.CREDENTIALS_EXPIRING, _expiry("Credentials expire", credential.expires_at, now))
            )
        if rejections is not None:
            problems.extend(_rejection_problems(rejections))
        due = profile.calibration_due_at if profile is not None else None
        if due is not None and due - now <= CALIBRATION_WARNING:
            problems.append(Problem(ProblemKind.CALIBRATION_DUE, _expiry("Calibration due", due, now)))
        for alert in (a for a in alerts if a.device_id == row.device_id):
            what = "Silent" if alert.kind is AlertKind.DEVICE_SILENT else "Battery low"
            problems.append(
                Problem(ProblemKind.ALERT, f"{what}: alert {alert.state.value}", alert.alert_id, alert.state)
            )
        result.append(
            FleetDevice(
                health=row, serial=profile.serial if profile else None, online=online, last_seen_at=last_seen,
                lifecycle=lifecycle(profile, paired=row.patient_id is not None, heard_from=last_seen is not None),
                placement=places.get(row.device_id, "In stock"),
                credential_issued_at=credential.issued_at if credential else None,
                credential_expires_at=credential.expires_at if credential else None,
                calibration_due_at=due, expected_interval_s=interval, problems=tuple(problems),
            )
        )  # fmt: skip
    return result


async def heard_from(store: Store, device_ids: Sequence[str], *, now: datetime) -> set[str]:
    """The devices that have made contact: a reading stored, a status, or a message dead-lettered in the last day
    (a device not paired yet has its readings dead-lettered as "no patient paired")."""
    ids = list(device_ids)
    if not ids:
        return set()
    heard = set(await store.last_reading_at(ids)) | {
        s.device_id for s in await store.list_device_status(device_ids=ids)
    }
    return heard | set(await store.device_rejections(ids, since=now - REJECTIONS_WINDOW))


def _problems(row: DeviceHealth, *, last_seen: datetime | None, online: bool | None, interval_s: int, now: datetime,
              battery_low_percent: float) -> list[Problem]:  # fmt: skip
    problems: list[Problem] = []
    if last_seen is not None and not online:
        minutes = int((now - last_seen).total_seconds() // 60)
        problems.append(
            Problem(ProblemKind.SILENT, f"Offline: last heard {minutes} min ago (expected every {interval_s} s)")
        )
    if row.battery_percent is not None and row.battery_percent < battery_low_percent:
        problems.append(Problem(ProblemKind.BATTERY_LOW, f"Battery {row.battery_percent:.0f} %"))
    if row.signal_dbm is not None and row.signal_dbm < POOR_SIGNAL_DBM:
        problems.append(Problem(ProblemKind.POOR_SIGNAL, f"Poor signal ({row.signal_dbm:.0f} dBm)"))
    return problems


def _rejection_problems(rejections: Rejections) -> list[Problem]:
    problems: list[Problem] = []
    if rejections.in_future:
        text = f"Clock wrong: {rejections.in_future} messages dated in the future in 24 h; set its clock (NTP)"
        problems.append(Problem(ProblemKind.CLOCK_SKEW, text))
    other = rejections.count - rejections.in_future
    if other > REJECTION_SPIKE:
        problems.append(Problem(ProblemKind.REJECTED_READINGS, f"{other} messages rejected in 24 h (dead letters)"))
    return problems


def _expiry(what: str, at: datetime, now: datetime) -> str:
    days = (at - now).days
    return f"{what} in {days} days" if days >= 0 else f"{what}: overdue since {at.date().isoformat()}"


async def _places(store: Store, rows: Sequence[DeviceHealth]) -> dict[str, str]:
    """Device id -> "Bed <label>" or "Home kit of a patient in <ward>": never a patient's name."""
    places: dict[str, str] = {}
    wards: dict[str, str] = {}
    for row in rows:
        if row.patient_id is None:
            continue
        if row.bed_id is not None:
            places[row.device_id] = f"Bed {(await store.get_bed(row.bed_id)).label}"
        elif row.ward_id is not None:
            if row.ward_id not in wards:
                wards[row.ward_id] = (await store.get_ward(row.ward_id)).name
            places[row.device_id] = f"Home kit of a patient in {wards[row.ward_id]}"
        else:
            places[row.device_id] = "Paired"
    return places
