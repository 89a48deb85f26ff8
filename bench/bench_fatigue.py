"""Alarm fatigue: alerts per patient-day on the simulator's standard unit (6 monitored beds and 4 home patients, 24 h of
simulated time on a fake clock), without and with the fatigue controls (the 20 s confirmation delay and per-patient
limits), and how soon each deterioration is alerted in both.

    .venv/bin/python -m bench.bench_fatigue [--hours 24] [--seed 7] [--verify-minutes 30]

The unit is the demo's with the non-actionable events a ward sees turned on (devices/artefacts.py: SpO2 dips from
motion or a loose probe, bursts of pulse), a COPD patient in bed 5 living at SpO2 88-92 % on air (scale 1) with an
exacerbation about every 13 h, and the sepsis-like decline in bed 3 every 2.8 h with rest enough for each episode's
alert to resolve. A simulated nurse acknowledges every alert a minute after it sounds.

Every pack goes through ingest's validation and the live scorer's rules (`alerts.limits.scored_conditions`) and every
decision is the one the store applies (`alerts.confirmation`, `alerts.lifecycle`), kept in memory so a day takes
about a minute. The first `--verify-minutes` also run through the real path (SQLite store, `LiveScorer`, the timer
poll) and the bench stops if the two disagree on any alert transition.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from alerts.confirmation import confirm_due, decide
from alerts.lifecycle import DEFAULT_POLICY, LifecyclePolicy, acknowledge, renotify
from alerts.limits import scored_conditions
from alerts.timers import fire_due_timers
from core.settings import Settings
from core.store import AlertChange, AlertUpdate, ConditionUpdate
from core.store.sqlite import SqliteStore
from core.topics import parse_device_topic
from core.types import (
    Alert,
    AlertKey,
    AlertKind,
    AlertPhase,
    AlertSeverity,
    AlertState,
    CareSetting,
    LatestValue,
    Parameter,
    PatientLimit,
    PendingAlert,
    Reading,
    SpO2Scale,
)
from devices.demo import DemoUnit, demo_unit, seed_demo_unit
from devices.scenario import Scenario, copd_scenario, sepsis_scenario, vitals_at
from devices.simulator import REALISTIC_ARTEFACTS, UnitSimulator
from ingest.live_scoring import LiveScorer
from ingest.metrics import IngestMetrics
from ingest.publishing import EventPublisher
from ingest.validation import ValidationLimits, validate_pack
from scoring.live import fresh_values, score_latest
from scoring.news2 import Observation, score

T0 = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
ROOT = "bench"
ACK_AFTER_S = 60.0  # the simulated nurse acknowledges an alert a minute after it sounds
SOUNDS = (AlertPhase.OPENED, AlertPhase.REOPENED, AlertPhase.RENOTIFIED)  # what makes a nurse go to the bed
KINDS = (AlertKind.NEWS2, AlertKind.PATIENT_LIMIT)
UNIT = demo_unit()
SEPSIS_BED, COPD_BED = UNIT.beds[2], UNIT.beds[4]
SCENARIOS: dict[str, Scenario] = {
    SEPSIS_BED.patient_id: sepsis_scenario(onset_s=600.0, rest_s=5400.0),
    COPD_BED.patient_id: copd_scenario(),
}
COPD_LIMIT = PatientLimit(COPD_BED.patient_id, Parameter.SPO2, 88.0, 92.0, "KOLS, lever på 88-92 %", "bench-dr", T0)
NO_CONTROLS = replace(DEFAULT_POLICY, confirm_s={})


@dataclass(frozen=True, slots=True)
class Config:
    name: str
    policy: LifecyclePolicy
    limits: dict[str, tuple[PatientLimit, ...]]


CONFIGS = (
    Config("without controls", NO_CONTROLS, {}),
    Config("with controls", DEFAULT_POLICY, {COPD_BED.patient_id: (COPD_LIMIT,)}),
)
Event = tuple[float, str, AlertKind, AlertPhase, AlertSeverity]  # (seconds since T0, patient, kind, phase, severity)


def _patient_of_device(unit: DemoUnit) -> dict[str, tuple[str, CareSetting]]:
    beds = {d: (b.patient_id, CareSetting.BEDSIDE) for b in unit.beds for d in (b.monitor_id, b.chart_id) if d}
    return beds | {h.kit_id: (h.patient_id, CareSetting.HOME) for h in unit.home_patients}


def _readings(now: datetime, messages: list[tuple[str, bytes]]) -> list[tuple[Reading, CareSetting]]:
    limits, devices, out = ValidationLimits(future_tolerance_s=120.0), _patient_of_device(UNIT), []
    for topic, payload in messages:
        parsed = parse_device_topic(ROOT, topic)
        if parsed is None or parsed.device_id not in devices:
            continue
        patient_id, setting = devices[parsed.device_id]
        candidates, _ = validate_pack(parsed.device_id, payload, received_at=now, limits=limits)
        out += [
            (Reading(c.device_id, patient_id, c.parameter, c.value, c.measured_at, now), setting) for c in candidates
        ]
    return out


@dataclass
class MemoryWard:
    """The live scorer and the store's decisions, in memory: the same functions, applied as the store applies them."""

    config: Config
    settings: Settings = field(default_factory=Settings)
    latest: dict[str, dict[Parameter, LatestValue]] = field(default_factory=dict)
    alerts: dict[AlertKey, Alert] = field(default_factory=dict)
    pending: dict[AlertKey, PendingAlert] = field(default_factory=dict)
    sounded: dict[AlertKey, datetime] = field(default_factory=dict)
    log: list[Event] = field(default_factory=list)

    def step(self, now: datetime, readings: list[tuple[Reading, CareSetting]]) -> None:
        touched: dict[str, CareSetting] = {}
        for reading, setting in readings:
            values = self.latest.setdefault(reading.patient_id, {})
            old = values.get(reading.parameter)
            if old is None or old.measured_at < reading.measured_at:
                values[reading.parameter] = LatestValue(reading.parameter, reading.value, reading.measured_at, "")
            touched[reading.patient_id] = setting
        for patient_id, setting in sorted(touched.items()):
            self._score(patient_id, setting, now)
        self._timers(now)
        self._nurse(now)

    def _score(self, patient_id: str, setting: CareSetting, now: datetime) -> None:
        scale = SpO2Scale.SCALE_2 if patient_id == UNIT.scale2_patient_id else SpO2Scale.SCALE_1
        max_age = self.settings.max_age_s(setting)
        latest = self.latest[patient_id]
        news2 = score_latest(patient_id, latest, now=now, max_age_s=max_age, spo2_scale=scale)
        values = fresh_values(latest, now=now, max_age_s=max_age)
        limits = self.config.limits.get(patient_id, ())
        for seen in scored_conditions(news2, values, limits, ward_id="w", at=now, setting=setting):
            self._apply(
                seen.key, decide(self.alerts.get(seen.key), self.pending.get(seen.key), seen, self.config.policy)
            )

    def _apply(self, key: AlertKey, update: ConditionUpdate, *, now: datetime | None = None) -> None:
        if update.pending is None or (now is not None and update.pending.due_at <= now):
            self.pending.pop(key, None)
        else:
            self.pending[key] = update.pending
        if update.alert is not None:
            self._write(key, update.alert)

    def _write(self, key: AlertKey, update: AlertUpdate) -> None:
        alert = update.alert
        if update.phase is not None:
            self.log.append(
                ((alert.updated_at - T0).total_seconds(), key.patient_id or "", key.kind, update.phase, alert.severity)
            )
            if update.phase in SOUNDS:
                self.sounded[key] = alert.updated_at
        if alert.state is AlertState.RESOLVED:
            self.alerts.pop(key, None)
        else:
            self.alerts[key] = alert

    def _timers(self, now: datetime) -> None:
        for key, alert in list(self.alerts.items()):
            if alert.renotify_at is not None and alert.renotify_at <= now:
                update = renotify(alert, now) or AlertUpdate(replace(alert, renotify_at=None))
                if update.alert.renotify_at is not None and update.alert.renotify_at <= now:
                    update = replace(update, alert=replace(update.alert, renotify_at=None))
                self._write(key, update)
        for key, waiting in list(self.pending.items()):
            if waiting.due_at <= now:
                self._apply(key, confirm_due(self.alerts.get(key), waiting, now), now=now)

    def _nurse(self, now: datetime) -> None:
        for key, alert in list(self.alerts.items()):
            if alert.state is AlertState.OPEN and now - self.sounded[key] >= timedelta(seconds=ACK_AFTER_S):
                self._write(key, acknowledge(alert, by="nurse", at=now))

    def news2_severity(self, patient_id: str) -> AlertSeverity | None:
        alert = self.alerts.get(AlertKey(patient_id, None, AlertKind.NEWS2))
        return None if alert is None else alert.severity


class StoreWard:
    """The real path for the verification window: SQLite, the live scorer, the timer poll, acknowledgements."""

    def __init__(self, store: SqliteStore, config: Config) -> None:
        self.store, self.now, self.log, self.sounded = store, T0, list[Event](), dict[int, datetime]()
        settings = Settings(alert_confirm_s=config.policy.confirm_s.get(AlertKind.NEWS2, 0.0))
        self._events: list[dict[str, object]] = []
        metrics = IngestMetrics()
        publisher = EventPublisher(
            lambda _t, p: self._events.append(orjson.loads(p)), root=ROOT, store=store, metrics=metrics
        )
        self.scorer = LiveScorer(store, settings, publisher, metrics, clock=lambda: self.now)

    async def step(self, now: datetime, readings: list[tuple[Reading, CareSetting]]) -> None:
        self.now = now
        batch = [reading for reading, _ in readings]
        await self.store.append(batch, [])
        self.scorer.add_readings(batch)
        await self.scorer.score_pending()
        for event in self._events:
            if event["type"] == "alert" and event["kind"] in KINDS and event["phase"] is not None:
                kind, phase = AlertKind(str(event["kind"])), AlertPhase(str(event["phase"]))
                severity = AlertSeverity(int(str(event["severity"])))
                self._record(now, str(event["patient_id"]), kind, phase, severity, int(str(event["alert_id"])))
        self._events.clear()
        for change in await fire_due_timers(self.store, lambda: now):
            self._change(now, change)
        for alert in await self.store.list_alerts(kinds=KINDS, states=[AlertState.OPEN]):
            if now - self.sounded[alert.alert_id] >= timedelta(seconds=ACK_AFTER_S):
                self._change(
                    now,
                    await self.store.update_alert_by_id(alert.alert_id, lambda a: acknowledge(a, by="nurse", at=now)),
                )

    def _change(self, now: datetime, change: AlertChange) -> None:
        alert = change.alert
        if change.phase is not None and change.phase is not AlertPhase.ESCALATED and alert.kind in KINDS:
            self._record(now, alert.patient_id or "", alert.kind, change.phase, alert.severity, alert.alert_id)

    def _record(
        self, now: datetime, patient: str, kind: AlertKind, phase: AlertPhase, sev: AlertSeverity, alert_id: int
    ) -> None:
        self.log.append(((now - T0).total_seconds(), patient, kind, phase, sev))
        if phase in SOUNDS:
            self.sounded[alert_id] = now


async def _verify(config: Config, minutes: int, seed: int) -> None:
    """Run the first minutes through the real store and scorer; stop the bench if any transition differs."""
    with tempfile.TemporaryDirectory(prefix="vaktrom-fatigue-") as tmp:
        store = SqliteStore(Path(tmp) / "vaktrom.db")
        await store.open()
        try:
            await seed_demo_unit(store, now=T0)
            for limits in config.limits.values():
                await store.set_patient_limits(limits)
            real, memory = StoreWard(store, config), MemoryWard(config)
            for now, readings in _simulate(minutes * 60, seed):
                memory.step(now, readings)
                await real.step(now, readings)
        finally:
            await store.close()
    if sorted(real.log) != sorted(memory.log):
        raise SystemExit(f"{config.name}: the in-memory model and the real store disagree:\n{real.log}\n{memory.log}")
    print(f"verified ({config.name}): {len(real.log)} alert transitions in {minutes} min identical in the real store")


def _simulate(seconds: int, seed: int) -> Iterator[tuple[datetime, list[tuple[Reading, CareSetting]]]]:
    sim = UnitSimulator(UNIT, ROOT, started_at=T0, seed=seed, artefacts=REALISTIC_ARTEFACTS, scenarios=SCENARIOS)
    for second in range(seconds):
        now = T0 + timedelta(seconds=second)
        yield now, _readings(now, [(m.topic, m.payload) for m in sim.step(now) if "/obs" in m.topic])


@dataclass(frozen=True, slots=True)
class Episode:
    """One deterioration: when its noise-free vitals first score NEWS2 >= 5 and >= 7, and its window."""

    patient_id: str
    start_s: float
    end_s: float
    crosses_5_s: float
    crosses_7_s: float


def _episodes(patient_id: str, scenario: Scenario, seconds: int) -> list[Episode]:
    found = []
    start = scenario.onset_s
    while start + scenario.decline_s < seconds:
        end = start + scenario.decline_s + scenario.plateau_s + scenario.recover_s
        totals = [(s, _noise_free_news2(scenario, s)) for s in range(int(start), int(end))]
        crosses_5 = next(s for s, total in totals if total >= 5)
        crosses_7 = next(s for s, total in totals if total >= 7)
        found.append(Episode(patient_id, start, end, crosses_5, crosses_7))
        start += scenario.period_s
    return found


def _noise_free_news2(scenario: Scenario, at_s: float) -> int:
    v = vitals_at(scenario, at_s, None)
    observation = Observation(
        resp_rate_per_min=v.resp_rate_per_min, spo2_percent=v.spo2_percent, spo2_scale=SpO2Scale.SCALE_1,
        supplemental_o2=v.on_oxygen, systolic_bp_mmhg=v.systolic_bp_mmhg, pulse_per_min=v.heart_rate_bpm,
        consciousness=v.consciousness, temperature_c=v.temperature_c,
    )  # fmt: skip
    return score(observation).total


@dataclass
class Detection:
    """Per episode: when the patient's NEWS2 alert first stood at medium or more, and at high (None: never)."""

    medium_at: dict[Episode, float] = field(default_factory=dict)
    high_at: dict[Episode, float] = field(default_factory=dict)

    def watch(self, ward: MemoryWard, episodes: list[Episode], at_s: float) -> None:
        for episode in episodes:
            if not episode.start_s <= at_s < episode.end_s:
                continue
            severity = ward.news2_severity(episode.patient_id)
            if severity is not None and severity >= AlertSeverity.MEDIUM:
                self.medium_at.setdefault(episode, at_s)
            if severity is AlertSeverity.HIGH:
                self.high_at.setdefault(episode, at_s)


def _run(hours: float, seed: int) -> tuple[dict[str, MemoryWard], dict[str, Detection], list[Episode]]:
    seconds = int(hours * 3600)
    wards = {config.name: MemoryWard(config) for config in CONFIGS}
    detections = {config.name: Detection() for config in CONFIGS}
    episodes = [e for pid, scenario in SCENARIOS.items() for e in _episodes(pid, scenario, seconds)]
    for now, readings in _simulate(seconds, seed):
        at_s = (now - T0).total_seconds()
        for name, ward in wards.items():
            ward.step(now, readings)
            detections[name].watch(ward, episodes, at_s)
    return wards, detections, episodes


def _per_day(count: int, patients: int, hours: float) -> str:
    return f"{count / patients / (hours / 24):.1f}"


def _groups() -> list[tuple[str, set[str]]]:
    special = {SEPSIS_BED.patient_id, COPD_BED.patient_id}
    stable = {b.patient_id for b in UNIT.beds} - special
    return [
        ("all 6 beds", {b.patient_id for b in UNIT.beds}),
        ("4 stable beds", stable),
        ("sepsis bed 3", {SEPSIS_BED.patient_id}),
        ("COPD bed 5", {COPD_BED.patient_id}),
        ("4 home patients", {h.patient_id for h in UNIT.home_patients}),
    ]


def _report(
    hours: float, wards: dict[str, MemoryWard], detections: dict[str, Detection], episodes: list[Episode]
) -> None:
    print(f"{hours:g} h simulated; per patient-day: alerts opened / alarms sounded (opened, re-opened, re-notified)")
    print(f"{'':<16} | " + " | ".join(f"{name:>24}" for name in wards))
    for label, patients in _groups():
        cells = []
        for ward in wards.values():
            opened = sum(e[3] is AlertPhase.OPENED and e[1] in patients for e in ward.log)
            sounded = sum(e[3] in SOUNDS and e[1] in patients for e in ward.log)
            cells.append(f"{_per_day(opened, len(patients), hours)} / {_per_day(sounded, len(patients), hours)}")
        print(f"{label:<16} | " + " | ".join(f"{cell:>24}" for cell in cells))
    for name, ward in wards.items():
        kinds = Counter(f"{e[2].value} {e[3].value}" for e in ward.log if e[3] in SOUNDS)
        print(f"sounded, {name}: {dict(sorted(kinds.items()))}")
    for label, patient_id in (
        ("sepsis, bed 3", SEPSIS_BED.patient_id),
        ("COPD exacerbation, bed 5", COPD_BED.patient_id),
    ):
        mine = [e for e in episodes if e.patient_id == patient_id]
        print(f"{label}: {len(mine)} episodes")
        for name, detection in detections.items():
            medium = [detection.medium_at[e] - e.crosses_5_s for e in mine if e in detection.medium_at]
            high = [detection.high_at[e] - e.crosses_7_s for e in mine if e in detection.high_at]
            print(
                f"  {name:<17} alerted >= medium {len(medium)}/{len(mine)}, after noise-free NEWS2 5: "
                f"{_spread(medium)}; high {len(high)}/{len(mine)}, after NEWS2 7: {_spread(high)}"
            )


def _spread(delays_s: list[float]) -> str:
    if not delays_s:
        return "-"
    return f"median {statistics.median(delays_s):+.0f} s, max {max(delays_s):+.0f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--verify-minutes", type=int, default=30, help="also run this long through the real store")
    options = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}; confirmation delay {DEFAULT_POLICY.confirm_s[AlertKind.NEWS2]:g} s")
    for config in CONFIGS:
        if options.verify_minutes:
            asyncio.run(_verify(config, options.verify_minutes, options.seed))
    started = time.monotonic()
    wards, detections, episodes = _run(options.hours, options.seed)
    _report(options.hours, wards, detections, episodes)
    print(f"({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
