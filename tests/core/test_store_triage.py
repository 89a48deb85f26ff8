"""Personal thresholds and threshold-breach items in the store: the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.triage import breach_items
from core.homecare import WorklistKind, WorklistState
from core.store import Store
from core.thresholds import MeasurementThresholds, ThresholdBand, ThresholdSet, TriageColour
from core.types import AlertKind, AlertSeverity, CareSetting, Parameter, Patient, Reading, Site, SiteKind, Stay, Ward

AT = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
R, Y, G = TriageColour.RED, TriageColour.YELLOW, TriageColour.GREEN
SPO2 = MeasurementThresholds(
    Parameter.SPO2, (ThresholdBand(R, None, 85), ThresholdBand(Y, 85, 88), ThresholdBand(G, 88, None))
)
COPD = ThresholdSet("p-1", (SPO2,), "COPD, target 88-92 %", "dr.lund", AT)


async def home_patient(store: Store) -> None:
    await store.upsert_site(Site("hjemme", "Hjemmeoppfølging", SiteKind.HOME_PROGRAMME))
    await store.upsert_ward(Ward("dho", "hjemme", "DHO"))
    await store.upsert_patient(Patient("p-1", "Kari Hjemme"))
    await store.add_stay(Stay("stay-1", "p-1", "dho", CareSetting.HOME, AT - timedelta(days=30)))


def spo2(value: float, minutes: int) -> Reading:
    at = AT + timedelta(minutes=minutes)
    return Reading("kit-1", "p-1", Parameter.SPO2, value, at, at)


async def breach(store: Store, reading: Reading) -> list[str]:
    items = breach_items([reading], COPD, site_id="hjemme", at=reading.received_at)
    return [change.action for change in await store.open_or_raise_breaches(items)]


async def test_the_newest_thresholds_are_in_force_and_every_set_is_kept(store: Store) -> None:
    cleared = ThresholdSet("p-1", (), "COPD resolved", "dr.lund", AT + timedelta(days=1))
    await store.set_thresholds(COPD)
    assert await store.thresholds(["p-1", "p-2"]) == {"p-1": COPD}

    await store.set_thresholds(cleared)

    assert await store.thresholds(["p-1"]) == {"p-1": cleared}
    assert await store.threshold_history("p-1") == [COPD, cleared]


async def test_a_breach_opens_one_item_whose_colour_only_rises(store: Store) -> None:
    await home_patient(store)

    assert await breach(store, spo2(87, 0)) == ["opened"]
    assert await breach(store, spo2(83, 60)) == ["raised"]
    assert await breach(store, spo2(86, 120)) == ["reading"]  # yellow again: the item stays red

    [item] = await store.worklist("hjemme", states=[WorklistState.OPEN])
    assert (item.kind, item.parameter, item.triage_colour) == (WorklistKind.THRESHOLD_BREACH, Parameter.SPO2, R)
    assert [r.value for r in item.implicated] == [87, 83, 86]
    _, history = await store.worklist_item(item.item_id)
    assert [(e.action, e.text) for e in history] == [
        ("opened", "SpO2 87 %: yellow under the personal thresholds"),
        ("raised", "yellow to red: SpO2 83 %: red under the personal thresholds"),
    ]


async def test_a_redelivered_reading_changes_nothing_even_after_its_item_is_closed(store: Store) -> None:
    await home_patient(store)
    await breach(store, spo2(83, 0))
    [item] = await store.worklist("hjemme", states=[WorklistState.OPEN])

    assert await breach(store, spo2(83, 0)) == []
    await store.update_worklist_item(
        item.item_id, actor="nurse-kari", action="closed", at=AT + timedelta(hours=1), text="Rang, ok", outcome="ok"
    )
    assert await breach(store, spo2(83, 0)) == []
    assert await breach(store, spo2(84, 90)) == ["opened"]  # a new reading after the close is a new item

    items = await store.worklist("hjemme", states=[WorklistState.OPEN, WorklistState.CLOSED])
    assert [(i.state, [r.value for r in i.implicated]) for i in items] == [
        (WorklistState.CLOSED, [83]),
        (WorklistState.OPEN, [84]),
    ]


async def news2(store: Store, severity: AlertSeverity, message: str, *, minutes: int = 0) -> int:
    change = await store.raise_alert(
        patient_id="p-1", device_id=None, ward_id="dho", kind=AlertKind.NEWS2, severity=severity, message=message,
        at=AT + timedelta(minutes=minutes),
    )  # fmt: skip
    return change.alert.alert_id


async def test_a_home_patients_news2_alert_becomes_one_item_that_follows_it(store: Store) -> None:
    await home_patient(store)
    alert_id = await news2(store, AlertSeverity.MEDIUM, "NEWS2 5")
    now = AT + timedelta(minutes=1)

    assert [c.action for c in await store.sync_alert_items(now)] == ["opened"]
    assert await store.sync_alert_items(now) == []  # idempotent
    await news2(store, AlertSeverity.HIGH, "NEWS2 7", minutes=2)
    assert [c.action for c in await store.sync_alert_items(now + timedelta(minutes=2))] == ["raised"]
    await store.resolve_alert(alert_id, at=now + timedelta(minutes=30), by="nurse-kari", reason="Ringt, ok")
    [closed] = await store.sync_alert_items(now + timedelta(minutes=31))

    assert (closed.action, closed.item.state, closed.item.outcome) == ("closed", WorklistState.CLOSED, "alert resolved")
    assert (closed.item.kind, closed.item.alert_id, closed.item.triage_colour) == (WorklistKind.ALERT, alert_id, R)
    assert closed.item.summary == "NEWS2: NEWS2 5"
    _, history = await store.worklist_item(closed.item.item_id)
    assert [(e.action, e.text) for e in history] == [
        ("opened", "NEWS2: NEWS2 5"),
        ("raised", f"orange to red: alert {alert_id} raised"),
        ("closed", f"alert {alert_id} resolved by nurse-kari: Ringt, ok"),
    ]
    assert await store.sync_alert_items(now + timedelta(minutes=32)) == []


async def test_an_alert_of_a_patient_in_a_bed_or_about_a_kit_stays_off_the_worklist(store: Store) -> None:
    await home_patient(store)
    await store.raise_alert(
        patient_id="p-1", device_id="kit-1", ward_id="dho", kind=AlertKind.DEVICE_BATTERY_LOW,
        severity=AlertSeverity.LOW_MEDIUM, message="Battery 9 %", at=AT,
    )  # fmt: skip
    await store.raise_alert(
        patient_id="p-9", device_id=None, ward_id="kad", kind=AlertKind.NEWS2, severity=AlertSeverity.HIGH,
        message="NEWS2 8", at=AT,
    )  # fmt: skip

    assert await store.sync_alert_items(AT + timedelta(minutes=1)) == []
