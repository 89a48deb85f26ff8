"""A monitor pack measured just before a discharge and delivered just after it: stored and scored for the patient,
but no ward watches her any more, so it raises no alert of any kind; readmitted and still unwell, the new ward gets
her alert. Real SQLite store, fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from core.care_flags import CareFlag, CareFlagChange
from core.settings import Settings
from core.store import AlertUpdate, Store
from core.store.sqlite import SqliteStore
from core.types import (
    Alert,
    AlertKey,
    AlertKind,
    AlertPhase,
    AlertSeverity,
    AlertState,
    Bed,
    Device,
    DeviceKind,
    Pairing,
    Parameter,
    Patient,
    PatientLimit,
    Reading,
    RiskAssessment,
    RiskLevel,
    Site,
    SiteKind,
    Ward,
)
from ingest.live_scoring import LiveScorer
from ingest.metrics import IngestMetrics
from ingest.publishing import EventPublisher
from ingest.risk import RiskStep

T0 = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)  # the discharge
CALM = {Parameter.RESP_RATE: 16.0, Parameter.SPO2: 97.0, Parameter.PULSE: 80.0, Parameter.SYSTOLIC_BP: 124.0,
        Parameter.TEMPERATURE: 37.0, Parameter.CONSCIOUSNESS: 0.0, Parameter.SUPPLEMENTAL_O2: 0.0}  # fmt: skip
# NEWS2 9 (respiration 3, SpO2 3, pulse 3), below her own SpO2 limit, a respiratory depression for an opioid patient.
SICK = CALM | {Parameter.RESP_RATE: 30.0, Parameter.SPO2: 85.0, Parameter.PULSE: 135.0}


@dataclass
class Unit:
    store: SqliteStore
    now: datetime = T0 - timedelta(minutes=10)
    events: list[tuple[str, dict[str, object]]] = field(default_factory=list)
    scorer: LiveScorer | None = None
    publisher: EventPublisher | None = None

    async def pack(
        self, values: dict[Parameter, float], *, measured_at: datetime, arrives_at: datetime, device: str
    ) -> None:
        """A pack stored for p1 (ingest attributes it by its measured time) and scored when it arrives."""
        assert self.scorer is not None
        self.now = arrives_at
        readings = [Reading(device, "p1", p, v, measured_at, arrives_at) for p, v in values.items()]
        await self.store.append(readings, [])
        self.scorer.add_readings(readings)
        await self.scorer.score_pending()

    def alert_events(self, ward_id: str) -> list[dict[str, object]]:
        return [e for topic, e in self.events if topic == f"t/events/s1/{ward_id}/alert"]


@pytest.fixture
async def unit(tmp_path: Path) -> AsyncIterator[Unit]:
    """p1 on ward w1 since yesterday, with monitor mon-1, her own SpO2 limit and an opioid flag (every rule on)."""
    store = SqliteStore(tmp_path / "vaktrom.db")
    await store.open()
    await store.upsert_site(Site("s1", "Sykestua", SiteKind.SYKESTUE))
    for ward_id in ("w1", "w2"):
        await store.upsert_ward(Ward(ward_id, "s1", ward_id))
        await store.upsert_bed(Bed(f"b-{ward_id}", ward_id, "Seng 1"))
    await store.upsert_patient(Patient("p1", "Test Pasient"))
    for device_id in ("mon-1", "mon-2"):
        await store.register_device(Device(device_id, "s1", DeviceKind.BEDSIDE_MONITOR, "sim", T0 - timedelta(days=2)))
    await store.admit(patient_id="p1", bed_id="b-w1", stay_id="st1", at=T0 - timedelta(days=1))
    await store.pair_device(Pairing("mon-1", "p1", T0 - timedelta(days=1), bed_id="b-w1"))
    await store.set_patient_limits(
        [PatientLimit("p1", Parameter.SPO2, 94.0, None, "target", "dr.lund", T0 - timedelta(days=1))]
    )
    await store.set_care_flags(
        [CareFlagChange("p1", CareFlag.OPIOID_AGONIST_TREATMENT, True, "LAR", "dr.lund", T0 - timedelta(days=1))]
    )
    running = Unit(store)
    metrics = IngestMetrics()
    publisher = EventPublisher(
        lambda topic, payload: running.events.append((topic, orjson.loads(payload))),
        root="t",
        store=store,
        metrics=metrics,
    )
    running.publisher = publisher
    running.scorer = LiveScorer(store, Settings(), publisher, metrics, clock=lambda: running.now)
    await running.pack(CALM, measured_at=running.now, arrives_at=running.now, device="mon-1")
    yield running
    await store.close()


async def _readmit_to_w2_still_unwell(unit: Unit) -> None:
    admitted_at = T0 + timedelta(hours=1)
    await unit.store.admit(patient_id="p1", bed_id="b-w2", stay_id="st2", at=admitted_at)
    await unit.store.pair_device(Pairing("mon-2", "p1", admitted_at, bed_id="b-w2"))
    at = admitted_at + timedelta(minutes=1)
    await unit.pack(SICK, measured_at=at, arrives_at=at, device="mon-2")


async def test_a_pack_delivered_after_discharge_raises_no_alert_and_the_readmitting_ward_gets_hers(
    unit: Unit,
) -> None:
    await unit.store.discharge(patient_id="p1", at=T0)
    # The monitor's buffered packs, measured up to 40 s before the discharge, delivered after it; long enough for
    # every rule's confirmation or sustain time to pass.
    for late_s in (40, 5):
        arrives_at = T0 + timedelta(seconds=50 - late_s)
        await unit.pack(SICK, measured_at=T0 - timedelta(seconds=late_s), arrives_at=arrives_at, device="mon-1")

    assert await unit.store.list_alerts(patient_ids=["p1"]) == []
    assert await unit.store.pending_alerts(patient_ids=["p1"]) == []
    stored = await unit.store.readings("p1", since=T0 - timedelta(minutes=1), until=T0)
    assert {(r.parameter, r.value) for r in stored} >= {(Parameter.RESP_RATE, 30.0), (Parameter.PULSE, 135.0)}
    # Her chart is complete: the score of those readings is saved (which also moves the re-score watermark on).
    assert (await unit.store.current_scores(["p1"]))["p1"].total == 9

    await _readmit_to_w2_still_unwell(unit)

    (news2,) = await unit.store.list_alerts(ward_ids=["w2"], kinds=[AlertKind.NEWS2])
    assert (news2.patient_id, news2.severity, news2.state) == ("p1", AlertSeverity.HIGH, AlertState.OPEN)
    assert [e["kind"] for e in unit.alert_events("w2")] == ["news2"]


async def test_an_alert_left_without_a_ward_is_taken_up_by_the_ward_that_admits_her(unit: Unit) -> None:
    """One opened with no ward (before this was fixed, or a discharge that raced a scoring cycle) and never resolved:
    her next stay's NEWS2 persists it, so the ward she lies in now must show it, hear of it, and have its history."""
    await unit.store.discharge(patient_id="p1", at=T0)
    at = T0 + timedelta(seconds=10)
    wardless = Alert(0, "p1", None, AlertKind.NEWS2, AlertSeverity.HIGH, AlertState.OPEN, "NEWS2 9", at, at)
    await unit.store.update_alert(
        AlertKey("p1", None, AlertKind.NEWS2), lambda _current: AlertUpdate(wardless, AlertPhase.OPENED)
    )

    await _readmit_to_w2_still_unwell(unit)

    (news2,) = await unit.store.list_alerts(ward_ids=["w2"], kinds=[AlertKind.NEWS2])
    assert (news2.patient_id, news2.severity, news2.state) == ("p1", AlertSeverity.HIGH, AlertState.OPEN)
    history = await unit.store.alert_history(news2.alert_id)
    assert [(h.phase, h.reason) for h in history][-1] == (
        AlertPhase.TRANSFERRED,
        "taken up by ward w2: it had no ward",
    )
    assert [(e["kind"], e["state"]) for e in unit.alert_events("w2")] == [("news2", "open")]


async def test_a_raised_ml_risk_from_readings_after_discharge_flags_no_ward(unit: Unit) -> None:
    await unit.store.discharge(patient_id="p1", at=T0)

    async def raised(store: Store, patient_ids: Sequence[str], now: datetime) -> list[RiskAssessment]:
        why = ("respiration rate rising",)
        return [RiskAssessment(p, now, 0.9, RiskLevel.RAISED, why, "test") for p in patient_ids]

    assert unit.publisher is not None
    step = RiskStep(raised, store=unit.store, publisher=unit.publisher, min_interval_s=60)
    at = T0 + timedelta(seconds=10)
    await step.assess(["p1"], await unit.store.stays_of_patients(["p1"], at=at), at)

    assert (await unit.store.current_risks(["p1"]))["p1"].level is RiskLevel.RAISED  # stored, as her score is
    assert await unit.store.list_alerts(patient_ids=["p1"]) == []
