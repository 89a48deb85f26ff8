"""The technician's fleet report (both engines): devices in stock and in use, where they are without naming a
patient, and the technical problems a technician acts on."""

from __future__ import annotations

from datetime import timedelta

from core.onboarding import DeviceLifecycle
from core.store import Store
from core.types import AlertKind, AlertSeverity, DeadLetter, Device, DeviceKind, DeviceStatus, Pairing
from devices import onboarding
from devices.broker_accounts import StoreReadAccounts
from devices.fleet import FleetDevice, ProblemKind, fleet_report
from tests.devices.conftest import T0, seed_ward

BATTERY_LOW = 15.0


async def _report(store: Store, *, at_s: float = 0) -> dict[str, FleetDevice]:
    rows = await fleet_report(store, ["site-a"], battery_low_percent=BATTERY_LOW, now=T0 + timedelta(seconds=at_s))
    return {row.health.device_id: row for row in rows}


async def test_in_stock_and_in_use_devices_with_their_place_and_no_patient_name(store: Store) -> None:
    await seed_ward(store)
    for device_id, kind in (("mon-1", DeviceKind.BEDSIDE_MONITOR), ("kit-1", DeviceKind.HOME_KIT),
                            ("ox-9", DeviceKind.PULSE_OXIMETER)):  # fmt: skip
        await store.register_device(Device(device_id, "site-a", kind, "M", T0))
    await store.pair_device(Pairing("mon-1", "p1", T0, bed_id="bed-1"))
    await store.pair_device(Pairing("kit-1", "h1", T0))
    rows = await _report(store)
    places = {device_id: row.placement for device_id, row in rows.items()}
    assert places == {"kit-1": "Home kit of a patient in A home", "mon-1": "Bed bed-1", "ox-9": "In stock"}
    assert rows["ox-9"].lifecycle is DeviceLifecycle.REGISTERED
    assert rows["ox-9"].online is None


async def test_technical_problems_each_say_what_to_do(store: Store) -> None:
    await seed_ward(store)
    issued_at = T0 - onboarding.CREDENTIAL_VALIDITY + timedelta(days=10)  # expires in 10 days
    device = Device("ox-1", "site-a", DeviceKind.PULSE_OXIMETER, "Nonin", issued_at)
    await onboarding.onboard_device(store, StoreReadAccounts(), device=device, serial="N1", firmware=None,
                                    calibration_due_at=T0 - timedelta(days=2), actor="tech")  # fmt: skip
    await store.save_device_status(DeviceStatus("ox-1", True, T0, battery_percent=9.0, signal_dbm=-97.0))
    future = [DeadLetter("t", b"[]", "t: 900 s in the future (clock skew allowed: 60 s)", T0, "ox-1")] * 3
    await store.append([], future)
    row = (await _report(store))["ox-1"]
    problems = {p.kind: p.text for p in row.problems}
    assert problems == {
        ProblemKind.BATTERY_LOW: "Battery 9 %",
        ProblemKind.POOR_SIGNAL: "Poor signal (-97 dBm)",
        ProblemKind.CLOCK_SKEW: "Clock wrong: 3 messages dated in the future in 24 h; set its clock (NTP)",
        ProblemKind.CREDENTIALS_EXPIRING: "Credentials expire in 10 days",
        ProblemKind.CALIBRATION_DUE: f"Calibration due: overdue since {(T0 - timedelta(days=2)).date().isoformat()}",
    }
    assert row.online is True and row.lifecycle is DeviceLifecycle.FIRST_CONTACT


async def test_a_device_in_stock_going_quiet_is_offline_after_its_types_interval(store: Store) -> None:
    await seed_ward(store)
    await store.register_device(Device("ox-2", "site-a", DeviceKind.PULSE_OXIMETER, "Nonin", T0))
    await store.save_device_status(DeviceStatus("ox-2", True, T0))
    assert (await _report(store, at_s=60))["ox-2"].online is True
    late = (await _report(store, at_s=61))["ox-2"]
    assert late.online is False
    assert [p.text for p in late.problems] == ["Offline: last heard 1 min ago (expected every 60 s)"]


async def test_device_alerts_are_listed_with_their_id_to_acknowledge(store: Store) -> None:
    await seed_ward(store)
    await store.register_device(Device("mon-2", "site-a", DeviceKind.BEDSIDE_MONITOR, "M", T0))
    raised = await store.raise_alert(patient_id="p2", device_id="mon-2", ward_id="ward-a1",
                                     kind=AlertKind.DEVICE_SILENT, severity=AlertSeverity.LOW_MEDIUM,
                                     message="Bed 2's monitor is silent", at=T0)  # fmt: skip
    [problem] = (await _report(store))["mon-2"].problems
    assert (problem.kind, problem.text, problem.alert_id) == (
        ProblemKind.ALERT, "Silent: alert open", raised.alert.alert_id
    )  # fmt: skip
