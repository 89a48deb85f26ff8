"""Device health: silent devices, Last Will offline and low batteries raise alerts the ward sees, and resolve."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.store import AlertChange, Store
from core.store.alerts import _raise as store_raise_rule
from core.types import (
    Alert,
    AlertKind,
    AlertSeverity,
    AlertState,
    DeadLetter,
    DeviceKind,
    DeviceStatus,
    Parameter,
    Reading,
)
from devices.health import HOME_SILENT_AFTER_S, already_raised, check_device_health, device_health_report
from devices.registry import pair_device, register_device, unpair_device
from tests.devices.conftest import T0, seed_ward

SILENT_AFTER_S = 120.0
BATTERY_LOW_PERCENT = 15.0


async def _paired(store: Store, device_id: str, patient_id: str, kind: DeviceKind = DeviceKind.BEDSIDE_MONITOR) -> None:
    await register_device(store, device_id=device_id, site_id="site-a", kind=kind, model="M", at=T0)
    await pair_device(store, device_id=device_id, patient_id=patient_id, at=T0)


async def _reading(store: Store, device_id: str, patient_id: str, at: datetime) -> None:
    reading = Reading(device_id, patient_id, Parameter.PULSE, 80.0, measured_at=at, received_at=at)
    await store.append([reading], [])


async def _check(
    store: Store, now: datetime, *, judge_silence: bool = True
) -> list[tuple[AlertKind, AlertSeverity, AlertState, str | None]]:
    changes = await check_device_health(
        store, now=now, silent_after_s=SILENT_AFTER_S, battery_low_percent=BATTERY_LOW_PERCENT,
        judge_silence=lambda: judge_silence,
    )  # fmt: skip
    return [(c.alert.kind, c.alert.severity, c.alert.state, c.alert.device_id) for c in changes]


async def _open_alerts(store: Store) -> list[tuple[AlertKind, str | None, str | None, str | None]]:
    return [(a.kind, a.device_id, a.patient_id, a.ward_id) for a in await store.list_alerts()]


async def test_silent_bedside_monitor_raises_an_alert_that_resolves_when_it_sends_again(store: Store) -> None:
    await seed_ward(store)
    await _paired(store, "mon-1", "p1")
    await _reading(store, "mon-1", "p1", T0 + timedelta(seconds=10))

    assert await _check(store, T0 + timedelta(seconds=10 + SILENT_AFTER_S - 1)) == []
    raised = await _check(store, T0 + timedelta(seconds=10 + SILENT_AFTER_S))
    assert raised == [(AlertKind.DEVICE_SILENT, AlertSeverity.LOW_MEDIUM, AlertState.OPEN, "mon-1")]
    alert = (await store.list_alerts())[0]
    assert (alert.patient_id, alert.ward_id) == ("p1", "ward-a1")
    assert alert.message == "Device mon-1 in bed bed-1: no readings for more than 2 min"

    assert await _check(store, T0 + timedelta(seconds=200)) == []  # still silent: nothing new, no duplicate
    assert len(await store.list_alerts()) == 1

    await _reading(store, "mon-1", "p1", T0 + timedelta(seconds=205))
    resolved = await _check(store, T0 + timedelta(seconds=206))
    assert resolved == [(AlertKind.DEVICE_SILENT, AlertSeverity.LOW_MEDIUM, AlertState.RESOLVED, "mon-1")]
    assert await store.list_alerts() == []


async def test_device_that_never_sent_anything_is_silent_counted_from_its_pairing(store: Store) -> None:
    await seed_ward(store)
    await _paired(store, "mon-1", "p1")
    assert await _check(store, T0 + timedelta(seconds=60)) == []
    assert await _check(store, T0 + timedelta(seconds=600)) == [
        (AlertKind.DEVICE_SILENT, AlertSeverity.LOW_MEDIUM, AlertState.OPEN, "mon-1")
    ]
    assert (await store.list_alerts())[
        0
    ].message == "Device mon-1 in bed bed-1: nothing since pairing for more than 10 min"


async def test_home_kit_is_silent_only_after_a_whole_day_without_a_check(store: Store) -> None:
    await seed_ward(store)
    await _paired(store, "kit-1", "h1", DeviceKind.HOME_KIT)
    await _reading(store, "kit-1", "h1", T0)
    assert await _check(store, T0 + timedelta(hours=8)) == []
    silent_at = T0 + timedelta(seconds=HOME_SILENT_AFTER_S)
    assert await _check(store, silent_at) == [(AlertKind.DEVICE_SILENT, AlertSeverity.INFO, AlertState.OPEN, "kit-1")]
    assert await _open_alerts(store) == [(AlertKind.DEVICE_SILENT, "kit-1", "h1", "ward-a-home")]


async def test_last_will_offline_raises_silent_alert_at_once_and_a_later_reading_resolves_it(store: Store) -> None:
    await seed_ward(store)
    await _paired(store, "mon-1", "p1")
    await _reading(store, "mon-1", "p1", T0 + timedelta(seconds=30))
    await store.save_device_status(DeviceStatus("mon-1", online=False, reported_at=T0 + timedelta(seconds=31)))

    assert await _check(store, T0 + timedelta(seconds=40)) == [
        (AlertKind.DEVICE_SILENT, AlertSeverity.LOW_MEDIUM, AlertState.OPEN, "mon-1")
    ]
    assert (await store.list_alerts())[0].message == ("Device mon-1 in bed bed-1 is offline (lost its connection)")

    await _reading(store, "mon-1", "p1", T0 + timedelta(seconds=50))  # reconnected and measuring again
    assert [s for _, _, s, _ in await _check(store, T0 + timedelta(seconds=51))] == [AlertState.RESOLVED]


async def test_low_battery_raises_info_alert_and_resolves_only_when_clearly_charged(store: Store) -> None:
    await seed_ward(store)
    await _paired(store, "mon-1", "p1")
    now = T0 + timedelta(seconds=10)
    await _reading(store, "mon-1", "p1", now)

    async def report(battery_percent: float, at: datetime) -> None:
        await store.save_device_status(DeviceStatus("mon-1", True, at, battery_percent=battery_percent))

    await report(16.0, now)
    assert await _check(store, now) == []
    await report(14.0, now + timedelta(seconds=1))
    assert await _check(store, now + timedelta(seconds=1)) == [
        (AlertKind.DEVICE_BATTERY_LOW, AlertSeverity.INFO, AlertState.OPEN, "mon-1")
    ]
    assert (await store.list_alerts())[0].message == "Device mon-1 in bed bed-1: battery at 14 %, charge or replace it"
    await report(17.0, now + timedelta(seconds=2))  # wobbling just above the threshold: keep it open
    assert await _check(store, now + timedelta(seconds=2)) == []
    assert [a.kind for a in await store.list_alerts()] == [AlertKind.DEVICE_BATTERY_LOW]
    await report(60.0, now + timedelta(seconds=3))
    assert await _check(store, now + timedelta(seconds=3)) == [
        (AlertKind.DEVICE_BATTERY_LOW, AlertSeverity.INFO, AlertState.RESOLVED, "mon-1")
    ]


async def test_unpairing_a_silent_device_resolves_its_alert(store: Store) -> None:
    await seed_ward(store)
    await _paired(store, "mon-1", "p1")
    await _check(store, T0 + timedelta(minutes=10))
    assert len(await store.list_alerts()) == 1
    await unpair_device(store, device_id="mon-1", at=T0 + timedelta(minutes=11))
    assert [s for _, _, s, _ in await _check(store, T0 + timedelta(minutes=12))] == [AlertState.RESOLVED]
    assert await store.list_alerts() == []


async def test_quiet_charting_tablet_is_not_silent_but_its_last_will_is_shown(store: Store) -> None:
    await seed_ward(store)
    await _paired(store, "chart-1", "p1", DeviceKind.NURSE_TABLET)
    assert await _check(store, T0 + timedelta(hours=6)) == []
    await store.save_device_status(DeviceStatus("chart-1", online=False, reported_at=T0 + timedelta(hours=6)))
    assert await _check(store, T0 + timedelta(hours=6, seconds=1)) == [
        (AlertKind.DEVICE_SILENT, AlertSeverity.LOW_MEDIUM, AlertState.OPEN, "chart-1")
    ]


# Each kind is silent after its type's interval (docs/DEVICES.md: 60 s continuous, 6 h ward spot-check, 26 h home
# kit), never sooner than the operator's bedside threshold (SILENT_AFTER_S here) or a home stay's 26 h.
SILENCE_BY_KIND = [
    (DeviceKind.BEDSIDE_MONITOR, "p1", SILENT_AFTER_S, AlertSeverity.LOW_MEDIUM),
    (DeviceKind.PULSE_OXIMETER, "p1", SILENT_AFTER_S, AlertSeverity.LOW_MEDIUM),
    (DeviceKind.BP_CUFF, "p1", 6 * 3600, AlertSeverity.LOW_MEDIUM),
    (DeviceKind.THERMOMETER, "p1", 6 * 3600, AlertSeverity.LOW_MEDIUM),
    (DeviceKind.HOME_KIT, "p1", 26 * 3600, AlertSeverity.LOW_MEDIUM),
    (DeviceKind.HOME_KIT, "h1", 26 * 3600, AlertSeverity.INFO),
    (DeviceKind.PULSE_OXIMETER, "h1", 26 * 3600, AlertSeverity.INFO),
    (DeviceKind.BP_CUFF, "h1", 26 * 3600, AlertSeverity.INFO),
    (DeviceKind.NURSE_TABLET, "p1", None, None),  # manual entry: quiet while nobody charts, never silent
]


@pytest.mark.parametrize(
    ("kind", "patient_id", "silent_after_s", "severity"),
    [
        pytest.param(*row, id=f"{row[0].value} {'at home' if row[1] == 'h1' else 'at a bedside'}")
        for row in SILENCE_BY_KIND
    ],
)
async def test_a_device_is_called_silent_only_after_its_kinds_reporting_interval(
    store: Store, kind: DeviceKind, patient_id: str, silent_after_s: float | None, severity: AlertSeverity | None
) -> None:
    await seed_ward(store)
    await _paired(store, "dev-1", patient_id, kind)
    measured_at = T0 + timedelta(minutes=5)  # e.g. the round's blood pressure
    await _reading(store, "dev-1", patient_id, measured_at)
    if silent_after_s is None or severity is None:
        assert await _check(store, measured_at + timedelta(days=7)) == []
        return
    assert await _check(store, measured_at + timedelta(seconds=silent_after_s - 1)) == []
    assert await _check(store, measured_at + timedelta(seconds=silent_after_s)) == [
        (AlertKind.DEVICE_SILENT, severity, AlertState.OPEN, "dev-1")
    ]


async def test_a_bp_cuff_is_not_silent_minutes_after_the_round(store: Store) -> None:
    await seed_ward(store)
    await _paired(store, "cuff-1", "p1", DeviceKind.BP_CUFF)
    await _reading(store, "cuff-1", "p1", T0 + timedelta(minutes=1))
    assert await _check(store, T0 + timedelta(minutes=4)) == []
    assert await _check(store, T0 + timedelta(hours=4, minutes=2)) == []  # the next round is due: still not silent
    assert await store.list_alerts() == []


@pytest.mark.parametrize("with_status", [True, False])
async def test_health_report_shows_status_silence_and_pairing(store: Store, with_status: bool) -> None:
    await seed_ward(store)
    await _paired(store, "mon-1", "p1")
    await register_device(store, device_id="mon-2", site_id="site-a", kind=DeviceKind.BEDSIDE_MONITOR, model="M", at=T0)
    await register_device(store, device_id="mon-b", site_id="site-b", kind=DeviceKind.BEDSIDE_MONITOR, model="M", at=T0)
    await _reading(store, "mon-1", "p1", T0 + timedelta(seconds=30))
    if with_status:
        status = DeviceStatus("mon-1", True, T0 + timedelta(seconds=20), 77.5, -61.0, "5.2.1")
        await store.save_device_status(status)

    report = await device_health_report(store, ["site-a"], T0 + timedelta(seconds=90))

    assert [row.device_id for row in report] == ["mon-1", "mon-2"]  # site B's device is not shown
    paired, spare = report
    assert (paired.patient_id, paired.bed_id, paired.ward_id, paired.paired_since) == ("p1", "bed-1", "ward-a1", T0)
    assert (paired.last_reading_at, paired.silent_for_s) == (T0 + timedelta(seconds=30), 60.0)
    if with_status:
        assert (paired.online, paired.battery_percent, paired.signal_dbm, paired.firmware) == (
            True,
            77.5,
            -61.0,
            "5.2.1",
        )
    else:
        assert (paired.online, paired.battery_percent, paired.firmware) == (None, None, None)
    assert (spare.patient_id, spare.last_reading_at, spare.silent_for_s, spare.online) == (None, None, None, None)


async def test_a_monitor_whose_readings_are_rejected_as_dated_in_the_future_is_a_clock_problem(store: Store) -> None:
    await seed_ward(store)
    await _paired(store, "mon-1", "p1")
    await _reading(store, "mon-1", "p1", T0 + timedelta(seconds=10))
    ahead = "t: 3600 s in the future (clock skew allowed: 120 s)"  # ingest's reason (ingest/validation.py)
    rejected = [DeadLetter("vaktrom/v1/site-a/mon-1/obs", b"[]", ahead, T0 + timedelta(seconds=s), "mon-1")
                for s in (60, 90, 120)]  # fmt: skip
    await store.append([], rejected)
    raised = await _check(store, T0 + timedelta(seconds=10 + SILENT_AFTER_S))
    assert raised == [(AlertKind.DEVICE_SILENT, AlertSeverity.LOW_MEDIUM, AlertState.OPEN, "mon-1")]
    [alert] = await store.list_alerts()
    assert alert.message == (
        "Device mon-1 in bed bed-1: clock wrong, its readings are dated in the future and rejected "
        "(3 in the last hour); set its clock"
    )


async def test_a_device_alert_already_open_costs_no_store_write_at_later_checks(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A silent ward is checked every 10 s: re-raising each open alert changed nothing and cost one write
    transaction per device per check (1000 for a 1000-bed ward coming back from a network outage)."""
    await seed_ward(store)
    await _paired(store, "mon-1", "p1")
    await _paired(store, "mon-2", "p2")
    await store.save_device_status(DeviceStatus("mon-2", True, T0, battery_percent=5.0))
    raised: list[tuple[str | None, AlertKind]] = []
    store_raise = store.raise_alerts

    async def counting_raise(proposed: Sequence[Alert]) -> list[AlertChange]:
        raised.extend((alert.device_id, alert.kind) for alert in proposed)
        return await store_raise(proposed)

    monkeypatch.setattr(store, "raise_alerts", counting_raise)

    first = await _check(store, T0 + timedelta(seconds=SILENT_AFTER_S))
    assert sorted((kind, device) for kind, _, _, device in first) == [
        (AlertKind.DEVICE_BATTERY_LOW, "mon-2"),
        (AlertKind.DEVICE_SILENT, "mon-1"),
        (AlertKind.DEVICE_SILENT, "mon-2"),
    ]
    assert len(raised) == 3
    for n in range(1, 4):
        assert await _check(store, T0 + timedelta(seconds=SILENT_AFTER_S + 10 * n)) == []
    assert len(raised) == 3  # no write for what is already open
    assert len(await store.list_alerts()) == 3


_OPEN_STATES = st.sampled_from([AlertState.OPEN, AlertState.ACKNOWLEDGED])


@given(
    current=st.none() | st.tuples(st.sampled_from(list(AlertSeverity)), _OPEN_STATES),
    severity=st.sampled_from(list(AlertSeverity)),
)
def test_a_raise_is_skipped_exactly_when_the_store_would_change_nothing(
    current: tuple[AlertSeverity, AlertState] | None, severity: AlertSeverity
) -> None:
    def alert(severity: AlertSeverity, state: AlertState) -> Alert:
        kind = AlertKind.DEVICE_SILENT
        return Alert(7, "p1", "ward-a1", kind, severity, state, "silent", T0, T0, device_id="mon-1")

    existing = alert(*current) if current is not None else None
    proposed = alert(severity, AlertState.OPEN)
    assert already_raised(existing, severity) == (store_raise_rule(existing, proposed) is None)


async def test_a_ward_whose_devices_all_come_back_has_every_alert_resolved_in_one_check(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("devices.health.WRITE_CHUNK", 2)  # three alerts: two transactions each way
    await seed_ward(store)
    for n in (1, 2):
        await _paired(store, f"mon-{n}", f"p{n}")
    await _paired(store, "kit-1", "h1", kind=DeviceKind.HOME_KIT)
    await store.save_device_status(DeviceStatus("kit-1", False, T0))  # its Last Will: offline
    assert len(await _check(store, T0 + timedelta(seconds=SILENT_AFTER_S))) == 3

    back = T0 + timedelta(seconds=SILENT_AFTER_S + 30)
    for device_id, patient_id in (("mon-1", "p1"), ("mon-2", "p2"), ("kit-1", "h1")):
        await _reading(store, device_id, patient_id, back)
    resolved = await _check(store, back + timedelta(seconds=1))

    assert sorted(resolved, key=lambda r: r[3] or "") == [
        (AlertKind.DEVICE_SILENT, AlertSeverity.INFO, AlertState.RESOLVED, "kit-1"),
        (AlertKind.DEVICE_SILENT, AlertSeverity.LOW_MEDIUM, AlertState.RESOLVED, "mon-1"),
        (AlertKind.DEVICE_SILENT, AlertSeverity.LOW_MEDIUM, AlertState.RESOLVED, "mon-2"),
    ]
    assert await store.list_alerts() == []


async def test_while_silence_waits_no_device_is_called_silent_but_everything_else_is_checked(store: Store) -> None:
    """Ingest catching up a backlog (devices/silence_gate.py): a silent alert already open stays open, a device that
    reports again has its alert resolved, a low battery is raised; only new silence waits."""
    await seed_ward(store)
    await _paired(store, "mon-1", "p1")
    await _paired(store, "mon-2", "p2")
    await _paired(store, "kit-1", "h1", DeviceKind.HOME_KIT)
    await _reading(store, "mon-2", "p2", T0 + timedelta(seconds=60))
    await store.save_device_status(DeviceStatus("kit-1", online=False, reported_at=T0))  # its Last Will
    first = await _check(store, T0 + timedelta(seconds=SILENT_AFTER_S))
    assert sorted(device or "" for _, _, _, device in first) == ["kit-1", "mon-1"]
    await _reading(store, "mon-1", "p1", T0 + timedelta(seconds=200))  # mon-1 reports again
    await store.save_device_status(DeviceStatus("mon-2", True, T0 + timedelta(seconds=200), battery_percent=5.0))

    waiting = await _check(store, T0 + timedelta(seconds=210), judge_silence=False)  # mon-2 quiet for 150 s

    assert sorted(waiting, key=lambda r: r[3] or "") == [
        (AlertKind.DEVICE_SILENT, AlertSeverity.LOW_MEDIUM, AlertState.RESOLVED, "mon-1"),
        (AlertKind.DEVICE_BATTERY_LOW, AlertSeverity.INFO, AlertState.OPEN, "mon-2"),
    ]
    assert sorted((kind.value, device or "") for kind, device, _, _ in await _open_alerts(store)) == [
        (AlertKind.DEVICE_BATTERY_LOW.value, "mon-2"),
        (AlertKind.DEVICE_SILENT.value, "kit-1"),  # still offline: kept open
    ]
    judged = await _check(store, T0 + timedelta(seconds=220))  # caught up: mon-2's silence is judged now
    assert judged == [(AlertKind.DEVICE_SILENT, AlertSeverity.LOW_MEDIUM, AlertState.OPEN, "mon-2")]
