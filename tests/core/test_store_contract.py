"""One contract, two stores: every Store method behaves the same on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from psycopg.conninfo import make_conninfo

from alerts import lifecycle
from core.errors import AlertAlreadyAcknowledged, AlertAlreadyResolved, ConfigError, NotFound, StorageUnavailable
from core.store import Store, schema
from core.store.migrate import head_revision
from core.store.postgres import PostgresStore
from core.store.sqlite import SqliteStore
from core.types import (
    SYSTEM_ACTOR,
    Alert,
    AlertKey,
    AlertKind,
    AlertPhase,
    AlertSeverity,
    AlertState,
    AuditEntry,
    Bed,
    CareSetting,
    CareTeamMember,
    CareTeamRole,
    ClinicalRisk,
    DeadLetter,
    Device,
    DeviceKind,
    DeviceStatus,
    Pairing,
    Parameter,
    Patient,
    PatientScore,
    Reading,
    RiskAssessment,
    RiskLevel,
    Role,
    Site,
    SiteKind,
    SpO2Scale,
    SpO2ScaleDecision,
    Stay,
    Ward,
)
from tests.core.conftest import StoreFactory
from tests.fixtures.postgres import SERVER_USER, PostgresServer

T0 = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
OSLO_WINTER = timezone(timedelta(hours=1))


def reading(
    parameter: Parameter = Parameter.PULSE,
    value: float = 80.0,
    *,
    at: datetime = T0,
    device_id: str = "dev-1",
    patient_id: str = "pat-1",
) -> Reading:
    return Reading(device_id, patient_id, parameter, value, measured_at=at, received_at=at + timedelta(seconds=1))


async def raise_news2(store: Store, severity: AlertSeverity, *, at: datetime = T0, patient_id: str = "pat-1") -> int:
    change = await store.raise_alert(
        patient_id=patient_id,
        device_id=None,
        ward_id="ward-a",
        kind=AlertKind.NEWS2,
        severity=severity,
        message=f"NEWS2 {severity.name}",
        at=at,
    )
    return change.alert.alert_id


# --- observations ----------------------------------------------------------------------------------------------
async def test_appended_readings_are_stored_and_counted(store: Store) -> None:
    batch = [reading(at=T0 + timedelta(seconds=i), value=70.0 + i) for i in range(5)]

    result = await store.append(batch, [])

    assert (result.stored, result.duplicates, result.dead_lettered) == (5, (), 0)
    assert await store.count_readings() == 5
    assert await store.readings("pat-1", since=T0, until=T0 + timedelta(minutes=1)) == batch


async def test_duplicate_readings_are_refused_and_dead_lettered(store: Store) -> None:
    first = reading(at=T0)
    await store.append([first], [])
    repeat_in_batch = reading(Parameter.SPO2, 97.0, at=T0)
    fresh = reading(at=T0 + timedelta(seconds=1))

    result = await store.append([first, repeat_in_batch, fresh, repeat_in_batch], [])

    assert result.stored == 2
    assert result.duplicates == (first, repeat_in_batch)
    assert result.dead_lettered == 2
    assert await store.count_readings() == 3
    assert await store.count_dead_letters() == 2
    letters = await store.list_dead_letters()
    assert {(d.reason, d.device_id) for d in letters} == {("duplicate reading", "dev-1")}
    assert b'"parameter":"spo2"' in b"".join(d.payload for d in letters)


async def test_dead_letters_are_kept_with_their_bytes_newest_first(store: Store) -> None:
    old = DeadLetter("vaktrom/v1/site/dev-9/obs", b"\x00not json", "invalid JSON", T0, device_id="dev-9")
    new = DeadLetter("vaktrom/v1/site/dev-9/obs", b"[]", "empty pack", T0 + timedelta(seconds=5))

    result = await store.append([reading()], [old, new])

    assert (result.stored, result.dead_lettered) == (1, 2)
    assert await store.list_dead_letters() == [new, old]
    assert await store.list_dead_letters(limit=1) == [new]


async def test_latest_value_only_moves_forward_in_time(store: Store) -> None:
    await store.append([reading(value=90.0, at=T0 + timedelta(minutes=5), device_id="dev-2")], [])
    await store.append([reading(value=70.0, at=T0), reading(Parameter.SPO2, 95.0, at=T0)], [])

    latest = await store.latest_values(["pat-1", "pat-unknown"])

    assert set(latest) == {"pat-1"}
    pulse = latest["pat-1"][Parameter.PULSE]
    assert (pulse.value, pulse.measured_at, pulse.device_id) == (90.0, T0 + timedelta(minutes=5), "dev-2")
    assert latest["pat-1"][Parameter.SPO2].value == 95.0


async def test_newest_reading_within_one_batch_becomes_the_latest_value(store: Store) -> None:
    batch = [reading(value=60.0 + i, at=T0 + timedelta(seconds=i)) for i in (3, 1, 4, 2)]
    await store.append(batch, [])
    assert (await store.latest_values(["pat-1"]))["pat-1"][Parameter.PULSE].value == 64.0


async def test_readings_come_back_oldest_first_in_utc_filtered_by_parameter(store: Store) -> None:
    local = T0.astimezone(OSLO_WINTER)
    batch = [
        reading(Parameter.SPO2, 96.0, at=local + timedelta(seconds=2)),
        reading(Parameter.PULSE, 81.0, at=local),
        reading(Parameter.PULSE, 82.0, at=local + timedelta(hours=2)),
        reading(Parameter.PULSE, 83.0, at=local, patient_id="pat-2", device_id="dev-2"),
    ]
    await store.append(batch, [])

    history = await store.readings("pat-1", since=T0, until=T0 + timedelta(hours=1))
    pulse_only = await store.readings("pat-1", since=T0, until=T0 + timedelta(hours=3), parameters=[Parameter.PULSE])

    assert [r.value for r in history] == [81.0, 96.0]
    assert all(r.measured_at.tzinfo == UTC and r.received_at.tzinfo == UTC for r in history)
    assert history[0].measured_at == T0
    assert [r.value for r in pulse_only] == [81.0, 82.0]
    assert len(await store.readings("pat-1", since=T0, until=T0 + timedelta(hours=3), limit=1)) == 1


async def test_hourly_means_bucket_by_hours_before_until_per_patient_asked(store: Store) -> None:
    until = T0 + timedelta(hours=3)
    batch = [
        reading(Parameter.PULSE, 80.0, at=until),  # age 0: bucket 0
        reading(Parameter.PULSE, 90.0, at=until - timedelta(minutes=59)),  # bucket 0
        reading(Parameter.PULSE, 70.0, at=until - timedelta(hours=1)),  # exactly 1 h old: bucket 1
        reading(Parameter.RESP_RATE, 20.0, at=until - timedelta(hours=2, minutes=30)),  # bucket 2
        reading(Parameter.PULSE, 50.0, at=until - timedelta(hours=3)),  # outside a 3 h window
        reading(Parameter.PULSE, 99.0, at=until + timedelta(seconds=1)),  # after `until`
        reading(Parameter.SPO2, 91.0, at=until),  # not asked for
        reading(Parameter.PULSE, 120.0, at=until, patient_id="pat-2", device_id="dev-2"),
    ]
    await store.append(batch, [])

    asked = ["pat-1", "pat-2", "pat-none", "pat-1"]
    means = await store.hourly_means(asked, until=until, hours=3, parameters=[Parameter.PULSE, Parameter.RESP_RATE])

    got = {p: {(m.parameter, m.hours_ago): (m.mean, m.count) for m in found} for p, found in means.items()}
    assert got == {
        "pat-1": {
            (Parameter.PULSE, 0): (85.0, 2),
            (Parameter.PULSE, 1): (70.0, 1),
            (Parameter.RESP_RATE, 2): (20.0, 1),
        },
        "pat-2": {(Parameter.PULSE, 0): (120.0, 1)},
        "pat-none": {},
    }
    assert await store.hourly_means([], until=until, hours=3, parameters=[Parameter.PULSE]) == {}


async def test_last_reading_time_is_the_newest_per_device(store: Store) -> None:
    await store.append(
        [reading(at=T0), reading(at=T0 + timedelta(minutes=3)), reading(at=T0 + timedelta(minutes=1), device_id="d2")],
        [],
    )
    assert await store.last_reading_at(["dev-1", "d2", "silent"]) == {
        "dev-1": T0 + timedelta(minutes=3),
        "d2": T0 + timedelta(minutes=1),
    }


# --- reference data --------------------------------------------------------------------------------------------
async def test_sites_wards_beds_and_patients_are_upserted_and_listed(store: Store) -> None:
    await store.upsert_site(Site("site-b", "Hjemmeoppfølging", SiteKind.HOME_PROGRAMME))
    await store.upsert_site(Site("site-a", "Sykestua", SiteKind.SYKESTUE))
    await store.upsert_ward(Ward("ward-a", "site-a", "KAD"))
    await store.upsert_ward(Ward("ward-b", "site-b", "Hjemme"))
    await store.upsert_ward(Ward("ward-a", "site-a", "KAD-senger"))
    await store.upsert_bed(Bed("bed-2", "ward-a", "Seng 2"))
    await store.upsert_bed(Bed("bed-1", "ward-a", "Seng 1"))
    await store.upsert_patient(Patient("pat-1", "Kari Nordmann", 1941))
    await store.upsert_patient(Patient("pat-1", "Kari Nordmann", 1942))

    assert [s.site_id for s in await store.list_sites()] == ["site-a", "site-b"]
    assert await store.list_wards(site_ids=["site-a"]) == [Ward("ward-a", "site-a", "KAD-senger")]
    assert len(await store.list_wards()) == 2
    assert await store.list_wards(site_ids=[]) == []
    assert await store.get_ward("ward-b") == Ward("ward-b", "site-b", "Hjemme")
    assert [b.label for b in await store.list_beds("ward-a")] == ["Seng 1", "Seng 2"]
    assert await store.get_patient("pat-1") == Patient("pat-1", "Kari Nordmann", 1942)
    await store.upsert_patient(Patient("pat-2", "Ola Hansen", None))
    # A board's patients in one read, each once.
    assert await store.get_patients(["pat-2", "pat-1", "pat-2"]) == {
        "pat-1": Patient("pat-1", "Kari Nordmann", 1942),
        "pat-2": Patient("pat-2", "Ola Hansen", None),
    }
    assert await store.get_patients([]) == {}


async def test_missing_ids_raise_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="ward nope not found"):
        await store.get_ward("nope")
    with pytest.raises(NotFound, match="patient nope not found"):
        await store.get_patient("nope")
    with pytest.raises(NotFound, match="patient nope not found"):
        await store.get_patients(["nope"])
    with pytest.raises(NotFound, match="device nope not found"):
        await store.get_device("nope")
    with pytest.raises(NotFound, match="alert 4242 not found"):
        await store.get_alert(4242)
    with pytest.raises(NotFound, match="alert 4242 not found"):
        await acknowledge(store, 4242, by="nurse-1", at=T0)
    with pytest.raises(NotFound, match="alert 4242 not found"):
        await store.resolve_alert(4242, at=T0, by="nurse-1", reason="test")
    with pytest.raises(NotFound, match="stay nope not found"):
        await store.end_stay("nope", end_at=T0)


async def test_spo2_scale_is_the_latest_decision(store: Store) -> None:
    assert await store.get_spo2_scale("pat-1") is None
    await store.set_spo2_scale(SpO2ScaleDecision("pat-1", SpO2Scale.SCALE_2, "doc-1", T0 + timedelta(hours=1)))
    await store.set_spo2_scale(SpO2ScaleDecision("pat-1", SpO2Scale.SCALE_1, "doc-2", T0))
    assert await store.get_spo2_scale("pat-1") == SpO2ScaleDecision(
        "pat-1", SpO2Scale.SCALE_2, "doc-1", T0 + timedelta(hours=1)
    )
    await store.set_spo2_scale(SpO2ScaleDecision("pat-2", SpO2Scale.SCALE_2, "doc-1", T0))
    assert await store.spo2_scales(["pat-1", "pat-2", "pat-3"]) == {  # one query for a unit; pat-3: never decided
        "pat-1": SpO2ScaleDecision("pat-1", SpO2Scale.SCALE_2, "doc-1", T0 + timedelta(hours=1)),
        "pat-2": SpO2ScaleDecision("pat-2", SpO2Scale.SCALE_2, "doc-1", T0),
    }


async def test_stays_are_found_by_the_time_asked_about(store: Store) -> None:
    bedside = Stay("stay-1", "pat-1", "ward-a", CareSetting.BEDSIDE, T0, bed_id="bed-1")
    home = Stay("stay-2", "pat-2", "ward-a", CareSetting.HOME, T0 + timedelta(hours=1))
    await store.add_stay(bedside)
    await store.add_stay(home)
    await store.add_stay(home)  # seeding twice is harmless

    assert await store.list_stays(ward_id="ward-a", at=T0 - timedelta(seconds=1)) == []
    assert await store.list_stays(ward_id="ward-a", at=T0 + timedelta(hours=2)) == [bedside, home]
    await store.end_stay("stay-1", end_at=T0 + timedelta(hours=3))
    ended = Stay("stay-1", "pat-1", "ward-a", CareSetting.BEDSIDE, T0, bed_id="bed-1", end_at=T0 + timedelta(hours=3))

    assert await store.list_stays(ward_id="ward-a", at=T0 + timedelta(hours=3)) == [home]
    assert await store.stays_of_patients(["pat-1", "pat-2"], at=T0 + timedelta(hours=2)) == {
        "pat-1": ended,
        "pat-2": home,
    }
    assert await store.stays_of_patients(["pat-1"], at=T0 + timedelta(hours=4)) == {}


async def test_care_team_is_listed_as_it_was_at_a_time(store: Store) -> None:
    gp = CareTeamMember("pat-1", "gp-1", CareTeamRole.GP, "Hammerfest kommune", T0)
    fact = CareTeamMember(
        "pat-1", "fact-vf", CareTeamRole.FACT_TEAM, "FACT Vest-Finnmark", T0, end_at=T0 + timedelta(days=1)
    )
    await store.add_care_team_member(gp)
    await store.add_care_team_member(fact)

    assert await store.list_care_team("pat-1", at=T0 + timedelta(hours=1)) == [fact, gp]
    assert await store.list_care_team("pat-1", at=T0 + timedelta(days=2)) == [gp]


# --- devices ---------------------------------------------------------------------------------------------------
async def test_devices_register_idempotently_and_list_by_site(store: Store) -> None:
    monitor = Device("dev-1", "site-a", DeviceKind.BEDSIDE_MONITOR, "M100", T0)
    kit = Device("dev-2", "site-b", DeviceKind.HOME_KIT, "K2", T0)
    await store.register_device(monitor)
    await store.register_device(monitor)
    await store.register_device(kit)

    assert await store.get_device("dev-1") == monitor
    assert await store.list_devices(site_ids=["site-b"]) == [kit]
    assert await store.list_devices() == [monitor, kit]


async def test_pairings_are_kept_by_time_for_attribution(store: Store) -> None:
    first = Pairing("dev-1", "pat-1", T0, bed_id="bed-1")
    second = Pairing("dev-1", "pat-2", T0 + timedelta(hours=1), bed_id="bed-1")
    await store.pair_device(first)
    await store.pair_device(first)  # the same pairing again changes nothing
    await store.pair_device(second)
    await store.pair_device(Pairing("dev-2", "pat-3", T0))
    await store.unpair_device("dev-2", end_at=T0 + timedelta(minutes=30))
    await store.unpair_device("dev-never-paired", end_at=T0)

    pairings = await store.pairings_of_devices(["dev-1", "dev-2", "dev-3"])

    assert pairings["dev-1"] == [Pairing("dev-1", "pat-1", T0, "bed-1", end_at=second.start_at), second]
    assert pairings["dev-2"] == [Pairing("dev-2", "pat-3", T0, end_at=T0 + timedelta(minutes=30))]
    assert "dev-3" not in pairings
    reading_at = T0 + timedelta(minutes=59)
    assert [p.patient_id for p in pairings["dev-1"] if p.covers(reading_at)] == ["pat-1"]


async def test_device_status_keeps_the_newest_report(store: Store) -> None:
    newest = DeviceStatus("dev-1", online=True, reported_at=T0 + timedelta(minutes=5), battery_percent=40.0)
    await store.save_device_status(newest)
    await store.save_device_status(DeviceStatus("dev-1", online=False, reported_at=T0, battery_percent=90.0))
    other = DeviceStatus("dev-2", online=False, reported_at=T0, signal_dbm=-71.0, firmware="1.2.3")
    await store.save_device_status(other)

    assert await store.list_device_status() == [newest, other]
    assert await store.list_device_status(device_ids=["dev-2"]) == [other]


# --- scores ----------------------------------------------------------------------------------------------------
def score(total: int, at: datetime) -> PatientScore:
    return PatientScore(
        patient_id="pat-1",
        computed_at=at,
        total=total,
        complete=False,
        risk=ClinicalRisk.MEDIUM,
        single_param_3=True,
        parameter_scores={Parameter.RESP_RATE: 3, Parameter.PULSE: total - 3},
        missing=(Parameter.CONSCIOUSNESS,),
        spo2_scale=SpO2Scale.SCALE_2,
    )


async def test_current_score_is_the_newest_saved(store: Store) -> None:
    await store.save_scores([score(6, T0 + timedelta(minutes=1))])
    await store.save_scores([score(4, T0)])
    assert await store.current_scores(["pat-1", "pat-2"]) == {"pat-1": score(6, T0 + timedelta(minutes=1))}


async def test_current_risk_is_the_newest_saved(store: Store) -> None:
    raised = RiskAssessment("pat-1", T0, 0.42, RiskLevel.RAISED, ("rising pulse",), "gbm-1")
    await store.save_risks([raised])
    await store.save_risks([RiskAssessment("pat-1", T0 - timedelta(minutes=1), None, RiskLevel.UNKNOWN)])
    assert await store.current_risks(["pat-1"]) == {"pat-1": raised}


async def acknowledge(store: Store, alert_id: int, *, by: str, at: datetime) -> Alert:
    change = await store.update_alert_by_id(alert_id, lambda a: lifecycle.acknowledge(a, by=by, at=at))
    return change.alert


# --- alerts ----------------------------------------------------------------------------------------------------
async def test_alert_opens_then_is_raised_but_never_lowered(store: Store) -> None:
    opened = await store.raise_alert(
        patient_id="pat-1",
        device_id=None,
        ward_id="ward-a",
        kind=AlertKind.NEWS2,
        severity=AlertSeverity.MEDIUM,
        message="NEWS2 5",
        at=T0,
    )
    assert opened.changed
    assert (opened.alert.state, opened.alert.severity, opened.alert.opened_at) == (
        AlertState.OPEN,
        AlertSeverity.MEDIUM,
        T0,
    )

    same = await store.raise_alert(
        patient_id="pat-1",
        device_id=None,
        ward_id="ward-a",
        kind=AlertKind.NEWS2,
        severity=AlertSeverity.MEDIUM,
        message="NEWS2 6",
        at=T0 + timedelta(minutes=1),
    )
    lower = await raise_news2(store, AlertSeverity.LOW_MEDIUM, at=T0 + timedelta(minutes=2))
    higher = await store.raise_alert(
        patient_id="pat-1",
        device_id=None,
        ward_id="ward-a",
        kind=AlertKind.NEWS2,
        severity=AlertSeverity.HIGH,
        message="NEWS2 8",
        at=T0 + timedelta(minutes=3),
    )

    assert not same.changed
    assert same.alert == opened.alert
    assert lower == opened.alert.alert_id
    assert higher.changed
    assert higher.alert.alert_id == opened.alert.alert_id
    assert (higher.alert.severity, higher.alert.message) == (AlertSeverity.HIGH, "NEWS2 8")
    assert (higher.alert.opened_at, higher.alert.updated_at) == (T0, T0 + timedelta(minutes=3))
    assert await store.list_alerts() == [higher.alert]


async def test_acknowledging_twice_says_who_already_did(store: Store) -> None:
    alert_id = await raise_news2(store, AlertSeverity.MEDIUM)

    acked = await acknowledge(store, alert_id, by="nurse-1", at=T0 + timedelta(minutes=1))

    assert (acked.state, acked.acknowledged_by, acked.acknowledged_at) == (
        AlertState.ACKNOWLEDGED,
        "nurse-1",
        T0 + timedelta(minutes=1),
    )
    with pytest.raises(AlertAlreadyAcknowledged, match=f"Alert {alert_id} is already acknowledged by nurse-1"):
        await acknowledge(store, alert_id, by="nurse-2", at=T0 + timedelta(minutes=2))
    assert await store.get_alert(alert_id) == acked


async def test_higher_severity_reopens_an_acknowledged_alert(store: Store) -> None:
    alert_id = await raise_news2(store, AlertSeverity.MEDIUM)
    await acknowledge(store, alert_id, by="nurse-1", at=T0 + timedelta(minutes=1))

    unchanged = await raise_news2(store, AlertSeverity.MEDIUM, at=T0 + timedelta(minutes=2))
    assert (await store.get_alert(unchanged)).state is AlertState.ACKNOWLEDGED
    await raise_news2(store, AlertSeverity.HIGH, at=T0 + timedelta(minutes=3))

    reopened = await store.get_alert(alert_id)
    assert (reopened.state, reopened.severity) == (AlertState.OPEN, AlertSeverity.HIGH)
    assert (await acknowledge(store, alert_id, by="nurse-2", at=T0)).acknowledged_by == "nurse-2"


async def test_resolved_alert_stays_resolved_and_a_new_one_can_open(store: Store) -> None:
    alert_id = await raise_news2(store, AlertSeverity.HIGH)

    resolved = await store.resolve_alert(alert_id, at=T0 + timedelta(minutes=10), by="nurse-1", reason="recovered")
    again = await store.resolve_alert(alert_id, at=T0 + timedelta(minutes=20), by="nurse-2", reason="again")
    with pytest.raises(AlertAlreadyResolved, match=f"Alert {alert_id} is already resolved by nurse-1"):
        await acknowledge(store, alert_id, by="nurse-1", at=T0 + timedelta(minutes=30))
    new_id = await raise_news2(store, AlertSeverity.LOW_MEDIUM, at=T0 + timedelta(minutes=40))

    assert (resolved.state, resolved.resolved_at) == (AlertState.RESOLVED, T0 + timedelta(minutes=10))
    assert again == resolved
    assert new_id != alert_id
    assert [a.alert_id for a in await store.list_alerts()] == [new_id]
    assert [a.alert_id for a in await store.list_alerts(states=[AlertState.RESOLVED])] == [alert_id]


async def test_raising_several_alerts_opens_or_raises_each_as_raise_alert_does(store: Store) -> None:
    """A ward's devices falling silent at once: one call, each alert decided as `raise_alert` decides it."""
    existing = await raise_news2(store, AlertSeverity.MEDIUM)
    at = T0 + timedelta(minutes=1)

    def proposed(patient_id: str, severity: AlertSeverity) -> Alert:
        return Alert(0, patient_id, "ward-a", AlertKind.NEWS2, severity, AlertState.OPEN, "NEWS2", at, at)

    changes = await store.raise_alerts(
        [proposed("pat-2", AlertSeverity.LOW_MEDIUM), proposed("pat-1", AlertSeverity.MEDIUM),
         proposed("pat-3", AlertSeverity.HIGH), proposed("pat-1", AlertSeverity.HIGH)]
    )  # fmt: skip

    assert [(c.alert.patient_id, c.changed, c.phase, c.alert.severity) for c in changes] == [
        ("pat-2", True, AlertPhase.OPENED, AlertSeverity.LOW_MEDIUM),
        ("pat-1", False, None, AlertSeverity.MEDIUM),  # equal severity: nothing to say
        ("pat-3", True, AlertPhase.OPENED, AlertSeverity.HIGH),
        ("pat-1", True, AlertPhase.RAISED, AlertSeverity.HIGH),
    ]
    assert changes[1].alert.alert_id == changes[3].alert.alert_id == existing
    assert sorted(a.patient_id or "" for a in await store.list_alerts()) == ["pat-1", "pat-2", "pat-3"]
    assert await store.raise_alerts([]) == []


async def test_resolving_several_alerts_is_one_transaction_that_records_each(store: Store) -> None:
    """A ward's devices coming back resolve their alerts together: each gets its transition (who, why, when); one
    already resolved comes back unchanged; an unknown id resolves none of them."""
    first = await raise_news2(store, AlertSeverity.MEDIUM)
    second = await raise_news2(store, AlertSeverity.HIGH, patient_id="pat-2")
    done = await raise_news2(store, AlertSeverity.LOW_MEDIUM, patient_id="pat-3")
    await store.resolve_alert(done, at=T0 + timedelta(minutes=1), by="nurse-1", reason="seen")
    at = T0 + timedelta(minutes=5)

    with pytest.raises(NotFound):
        await store.resolve_alerts([first, 999_999], at=at, by=SYSTEM_ACTOR, reason="reporting again")
    assert sorted(a.alert_id for a in await store.list_alerts()) == [first, second]  # none resolved
    changes = await store.resolve_alerts([second, done, first], at=at, by=SYSTEM_ACTOR, reason="reporting again")

    assert [(c.alert.alert_id, c.changed, c.alert.state) for c in changes] == [
        (second, True, AlertState.RESOLVED),
        (done, False, AlertState.RESOLVED),
        (first, True, AlertState.RESOLVED),
    ]
    assert await store.list_alerts() == []
    for alert_id in (first, second):
        last = (await store.alert_history(alert_id))[-1]
        assert (last.phase, last.by, last.reason, last.at) == (AlertPhase.RESOLVED, SYSTEM_ACTOR, "reporting again", at)
    assert (await store.get_alert(done)).resolved_by == "nurse-1"
    assert await store.resolve_alerts([], at=at, by=SYSTEM_ACTOR, reason="nothing") == []


async def test_alerts_are_separate_per_patient_device_and_kind_and_filterable(store: Store) -> None:
    news2 = await raise_news2(store, AlertSeverity.MEDIUM)
    other_patient = await raise_news2(store, AlertSeverity.MEDIUM, patient_id="pat-2", at=T0 + timedelta(seconds=1))
    silent = await store.raise_alert(
        patient_id=None,
        device_id="dev-9",
        ward_id=None,
        kind=AlertKind.DEVICE_SILENT,
        severity=AlertSeverity.LOW_MEDIUM,
        message="dev-9 silent for 2 min",
        at=T0 + timedelta(seconds=2),
    )
    silent_again = await store.raise_alert(
        patient_id=None,
        device_id="dev-9",
        ward_id=None,
        kind=AlertKind.DEVICE_SILENT,
        severity=AlertSeverity.LOW_MEDIUM,
        message="dev-9 silent for 3 min",
        at=T0 + timedelta(seconds=3),
    )

    assert not silent_again.changed and silent_again.alert.alert_id == silent.alert.alert_id
    assert silent.alert.patient_id is None and silent.alert.device_id == "dev-9"
    assert [a.alert_id for a in await store.list_alerts()] == [silent.alert.alert_id, other_patient, news2]
    assert [a.alert_id for a in await store.list_alerts(patient_ids=["pat-1"])] == [news2]
    assert [a.alert_id for a in await store.list_alerts(ward_ids=["ward-a"], limit=1)] == [other_patient]


async def test_concurrent_raises_from_two_processes_give_one_alert(open_store: StoreFactory) -> None:
    first, second = await open_store(), await open_store()

    changes = await asyncio.gather(
        *(
            raise_news2(s, AlertSeverity.MEDIUM, at=T0 + timedelta(milliseconds=i))
            for i, s in enumerate([first, second] * 4)
        )
    )

    assert len(set(changes)) == 1
    assert len(await first.list_alerts()) == 1


# --- audit, lifecycle ------------------------------------------------------------------------------------------
async def test_audit_entries_are_listed_newest_first(store: Store) -> None:
    read = AuditEntry(T0, "nurse-1", Role.NURSE, "read.patient", "pat-1")
    ack = AuditEntry(T0 + timedelta(seconds=1), "nurse-1", Role.NURSE, "ack.alert", "7", detail="from dashboard")
    await store.audit(read)
    await store.audit(ack)
    assert await store.list_audit() == [ack, read]
    assert await store.list_audit(limit=1) == [ack]


async def test_reopening_applies_no_migration_twice_and_keeps_data(open_store: StoreFactory) -> None:
    first = await open_store()
    await first.append([reading()], [])
    await first.close()

    reopened = await open_store()

    assert await reopened.ping()
    assert await reopened.count_readings() == 1


async def test_processes_starting_at_once_all_open(open_store: StoreFactory) -> None:
    stores = await asyncio.gather(*(open_store() for _ in range(4)))
    assert [await s.ping() for s in stores] == [True] * 4


async def test_sqlite_processes_starting_at_once_on_a_new_file_all_open(tmp_path: Path) -> None:
    # Whoever loses the race to switch a new file to WAL used to fail at once with "database is locked" (one start
    # in six with three at once): try many new files, so the race is actually run.
    for attempt in range(30):
        stores = [SqliteStore(tmp_path / f"{attempt}.sqlite3") for _ in range(3)]
        try:
            await asyncio.gather(*(store.open() for store in stores))
            assert [await store.ping() for store in stores] == [True] * 3
        finally:
            for store in stores:
                await store.close()


async def test_schema_is_at_the_newest_revision_once(store: Store, open_store: StoreFactory) -> None:
    await open_store()
    assert isinstance(store, SqliteStore | PostgresStore)
    rows = await store._read(lambda c: c.execute(sa.text("SELECT version_num FROM alembic_version")).all())
    assert [tuple(row) for row in rows] == [(head_revision(),)]


# --- storage unavailable ---------------------------------------------------------------------------------------
async def test_sqlite_store_in_an_unusable_place_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    store = SqliteStore(blocker / "vaktrom.sqlite3")

    with pytest.raises(StorageUnavailable, match=r"storage unavailable at .*not-a-directory"):
        await store.open()
    assert not await store.ping()


@pytest.mark.integration
async def test_postgres_on_a_port_nobody_listens_on_is_unavailable(postgres_server: PostgresServer) -> None:
    dead_port = (postgres_server.port or 5432) + 1
    store = PostgresStore(postgres_server.dsn + f" port={dead_port}")

    with pytest.raises(StorageUnavailable, match=f"storage unavailable at postgresql .*:{dead_port}/postgres"):
        await store.open()
    assert not await store.ping()


@pytest.mark.integration
async def test_postgres_store_reports_lost_connections_then_recovers(postgres_dsn: str) -> None:
    store = PostgresStore(postgres_dsn, pool_min=1, pool_max=1)
    await store.open()
    try:
        await store.append([reading()], [])
        # What a server restart does to clients; as the server's user, who may end any session.
        with psycopg.connect(make_conninfo(postgres_dsn, user=SERVER_USER), autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
        with pytest.raises(StorageUnavailable, match="storage unavailable at postgresql"):
            await store.count_readings()
        assert await store.count_readings() == 1
    finally:
        await store.close()


@pytest.mark.integration
async def test_postgres_with_an_unknown_user_is_unavailable_in_one_line(postgres_dsn: str) -> None:
    store = PostgresStore(make_conninfo(postgres_dsn, user="nobody_here"))

    with pytest.raises(StorageUnavailable) as raised:
        await store.open()
    assert 'role "nobody_here" does not exist' in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.integration
async def test_postgres_user_who_does_not_own_the_database_is_told_what_to_do(
    postgres_dsn: str, postgres_server: PostgresServer
) -> None:
    with psycopg.connect(postgres_server.dsn, autocommit=True) as admin:
        if admin.execute("SELECT 1 FROM pg_roles WHERE rolname = 'vaktrom_reader'").fetchone() is None:
            admin.execute("CREATE ROLE vaktrom_reader LOGIN")
    store = PostgresStore(make_conninfo(postgres_dsn, user="vaktrom_reader"))

    with pytest.raises(ConfigError, match=r"^VAKTROM_DATABASE_URL: .* connect as the database's owner") as raised:
        await store.open()
    assert "permission denied" in str(raised.value)
    assert "\n" not in str(raised.value)


async def test_every_transition_is_in_the_history_with_who_and_why(store: Store) -> None:
    alert_id = await raise_news2(store, AlertSeverity.MEDIUM)
    await acknowledge(store, alert_id, by="nurse-1", at=T0 + timedelta(minutes=1))
    await raise_news2(store, AlertSeverity.HIGH, at=T0 + timedelta(minutes=2))
    await store.resolve_alert(alert_id, at=T0 + timedelta(minutes=3), by="doctor-1", reason="sensor artefact")

    history = [(h.phase, h.state, h.severity, h.by, h.reason, h.at) for h in await store.alert_history(alert_id)]

    assert history == [
        (AlertPhase.OPENED, AlertState.OPEN, AlertSeverity.MEDIUM, SYSTEM_ACTOR, "", T0),
        (
            AlertPhase.ACKNOWLEDGED,
            AlertState.ACKNOWLEDGED,
            AlertSeverity.MEDIUM,
            "nurse-1",
            "",
            T0 + timedelta(minutes=1),
        ),
        (AlertPhase.REOPENED, AlertState.OPEN, AlertSeverity.HIGH, SYSTEM_ACTOR, "", T0 + timedelta(minutes=2)),
        (
            AlertPhase.RESOLVED,
            AlertState.RESOLVED,
            AlertSeverity.HIGH,
            "doctor-1",
            "sensor artefact",
            T0 + timedelta(minutes=3),
        ),
    ]
    resolved = await store.get_alert(alert_id)
    assert (resolved.resolved_by, resolved.resolve_reason) == ("doctor-1", "sensor artefact")


async def test_a_failing_decision_changes_nothing(store: Store) -> None:
    alert_id = await raise_news2(store, AlertSeverity.HIGH)
    await acknowledge(store, alert_id, by="nurse-1", at=T0 + timedelta(minutes=1))
    before = await store.get_alert(alert_id)

    with pytest.raises(AlertAlreadyAcknowledged, match="by nurse-1"):
        await acknowledge(store, alert_id, by="nurse-2", at=T0 + timedelta(minutes=2))

    assert await store.get_alert(alert_id) == before
    assert [h.phase for h in await store.alert_history(alert_id)] == [AlertPhase.OPENED, AlertPhase.ACKNOWLEDGED]


async def test_due_renotify_timers_fire_once_and_later_ones_wait(store: Store) -> None:
    due = await raise_news2(store, AlertSeverity.HIGH, patient_id="pat-1")
    later = await raise_news2(store, AlertSeverity.HIGH, patient_id="pat-2")
    await acknowledge(store, due, by="nurse-1", at=T0)  # re-notify at T0 + 10 min (high)
    await acknowledge(store, later, by="nurse-1", at=T0 + timedelta(minutes=5))
    at = T0 + timedelta(minutes=10)

    fired = await store.update_due_alerts(at, lambda a: lifecycle.renotify(a, at))
    again = await store.update_due_alerts(at, lambda a: lifecycle.renotify(a, at))

    assert [(c.alert.alert_id, c.phase, c.alert.state) for c in fired] == [
        (due, AlertPhase.RENOTIFIED, AlertState.OPEN)
    ]
    assert again == []
    assert (await store.get_alert(later)).renotify_at == T0 + timedelta(minutes=15)


async def test_a_due_timer_whose_decision_keeps_it_is_disarmed(store: Store) -> None:
    alert_id = await raise_news2(store, AlertSeverity.HIGH)
    await acknowledge(store, alert_id, by="nurse-1", at=T0)

    changes = await store.update_due_alerts(T0 + timedelta(hours=1), lambda a: None)

    assert [(c.changed, c.alert.renotify_at) for c in changes] == [(False, None)]
    assert (await store.get_alert(alert_id)).state is AlertState.ACKNOWLEDGED


async def test_a_decision_sees_the_unresolved_alert_of_its_key(store: Store) -> None:
    key = AlertKey("pat-1", None, AlertKind.NEWS2)
    first_id = await raise_news2(store, AlertSeverity.MEDIUM)
    seen: list[Alert | None] = []

    def decide(current: Alert | None) -> None:
        seen.append(current)

    assert (await store.update_alert(key, decide)) is not None
    assert [a.alert_id if a else None for a in seen] == [first_id]


async def test_patients_with_an_alert_to_decide_on_are_those_with_one_unresolved_or_pending(store: Store) -> None:
    await raise_news2(store, AlertSeverity.MEDIUM, patient_id="pat-open")
    resolved_id = await raise_news2(store, AlertSeverity.MEDIUM, patient_id="pat-resolved")
    await store.resolve_alert(resolved_id, at=T0 + timedelta(minutes=1), by="nurse-1", reason="better")
    await store.raise_alert(
        patient_id="pat-silent-device",
        device_id="dev-1",
        ward_id="ward-a",
        kind=AlertKind.DEVICE_SILENT,
        severity=AlertSeverity.MEDIUM,
        message="silent",
        at=T0,
    )
    pending: dict[str, object] = {"patient_id": "pat-pending", "device_id": "", "kind": AlertKind.NEWS2.value}
    pending |= {"ward_id": "ward-a", "severity": int(AlertSeverity.MEDIUM), "message": "5", "since": T0, "due_at": T0}
    await store._write(lambda c: c.execute(sa.insert(schema.pending_alerts), [pending]))  # type: ignore[attr-defined]
    everyone = ["pat-open", "pat-resolved", "pat-silent-device", "pat-pending", "pat-none"]

    assert await store.patients_with_unresolved(everyone, kinds=[AlertKind.NEWS2]) == {"pat-open", "pat-pending"}
    assert await store.patients_with_unresolved(everyone, kinds=[AlertKind.DEVICE_SILENT]) == {"pat-silent-device"}
    assert await store.patients_with_unresolved(["pat-none"], kinds=[AlertKind.NEWS2]) == set()


async def test_patients_whose_readings_arrived_after_their_score_are_behind(store: Store) -> None:
    scored_later = reading(patient_id="pat-1", device_id="dev-1", at=T0)
    unscored = reading(patient_id="pat-2", device_id="dev-2", at=T0)
    await store.append([scored_later, unscored], [])
    score = PatientScore(
        "pat-1", T0 + timedelta(seconds=5), 0, True, ClinicalRisk.LOW, False, {}, (), SpO2Scale.SCALE_1
    )
    await store.save_scores([score, replace(score, patient_id="pat-2", computed_at=T0)])

    assert await store.patients_behind_scoring() == ["pat-2"]  # its reading arrived at T0 + 1 s, after its score

    await store.append([reading(patient_id="pat-1", device_id="dev-1", at=T0 + timedelta(seconds=10))], [])
    assert await store.patients_behind_scoring() == ["pat-1", "pat-2"]


async def test_every_patient_in_a_stay_with_a_current_score_is_listed_once_for_the_stale_sweep(store: Store) -> None:
    at = T0 + timedelta(hours=1)
    for n in (1, 2, 3):
        await store.add_stay(Stay(f"stay-{n}", f"pat-{n}", "ward-a", CareSetting.HOME, T0 - timedelta(days=1)))
    await store.end_stay("stay-3", end_at=T0)  # discharged: their score stays in the table, but not on the list
    assert await store.scored_patients(at=at) == []
    score = PatientScore("pat-2", T0, 0, True, ClinicalRisk.LOW, False, {}, (), SpO2Scale.SCALE_1)
    later = replace(score, computed_at=T0 + timedelta(seconds=5))
    await store.save_scores([score, replace(score, patient_id="pat-1"), later, replace(score, patient_id="pat-3")])

    assert await store.scored_patients(at=at) == ["pat-1", "pat-2"]
