"""The live scorer's shortcut for settled bedside patients changes nothing anyone sees: the same readings deltas, the
same scores, the same alerts at the same times as scoring every pack in full. Real SQLite store, fake clock."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.settings import Settings
from core.store.sqlite import SqliteStore
from core.types import (
    CareSetting,
    Parameter,
    Patient,
    PatientLimit,
    Reading,
    Site,
    SiteKind,
    SpO2Scale,
    SpO2ScaleDecision,
    Stay,
    Ward,
)
from ingest.live_scoring import LiveScorer
from ingest.metrics import IngestMetrics
from ingest.publishing import EventPublisher
from ingest.settled_patients import FULL_SCORE_EVERY_S

T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
CALM = {"resp_rate": 16.0, "spo2": 97.0, "supplemental_o2": 0.0, "systolic_bp": 124.0, "pulse": 80.0,
        "consciousness": 0.0, "temperature": 37.0}  # fmt: skip
PATIENTS = ("p1", "p2")  # p2 has her own SpO2 limit (88-92 %), which NEWS2's bands do not show: never settled


class Unit:
    """One bedside ward with its scorer; `events` are the decoded events it published, in order."""

    def __init__(self, store: SqliteStore, *, full_score_every_s: float = FULL_SCORE_EVERY_S) -> None:
        self.store, self.now = store, T0
        self.events: list[dict[str, object]] = []
        self.metrics = IngestMetrics()
        publisher = EventPublisher(
            lambda _t, payload: self.events.append(orjson.loads(payload)), root="t", store=store, metrics=self.metrics
        )
        self.scorer = LiveScorer(
            store, Settings(), publisher, self.metrics, clock=lambda: self.now, full_score_every_s=full_score_every_s
        )

    async def pack(self, at_s: float, patient_id: str = "p1", **values: float) -> None:
        """A monitor's pack `at_s` seconds after T0, stored and scored at once as ingest does."""
        self.now = T0 + timedelta(seconds=at_s)
        readings = [
            Reading(f"mon-{patient_id}", patient_id, Parameter(name), value, self.now, self.now)
            for name, value in values.items()
        ]
        await self.store.append(readings, [])
        self.scorer.add_readings(readings)
        await self.scorer.score_pending()

    def seen(self, kind: str) -> list[dict[str, object]]:
        return [e for e in self.events if e["type"] == kind]


async def open_unit(path: Path, *, full_score_every_s: float = FULL_SCORE_EVERY_S) -> Unit:
    store = SqliteStore(path)
    await store.open()
    await store.upsert_site(Site("s1", "Sykestua", SiteKind.SYKESTUE))
    await store.upsert_ward(Ward("w1", "s1", "Senger"))
    for n, patient_id in enumerate(PATIENTS):
        await store.upsert_patient(Patient(patient_id, f"Pasient {n}"))
        await store.add_stay(Stay(f"st-{patient_id}", patient_id, "w1", CareSetting.BEDSIDE, T0 - timedelta(days=1),
                                  bed_id=f"b{n}"))  # fmt: skip
    await store.set_patient_limits([PatientLimit("p2", Parameter.SPO2, 88.0, 92.0, "KOLS", "dr-berg", T0)])
    return Unit(store, full_score_every_s=full_score_every_s)


@pytest.fixture
async def unit(tmp_path: Path) -> AsyncIterator[Unit]:
    unit = await open_unit(tmp_path / "vaktrom.db")
    await unit.pack(0, **CALM)
    yield unit
    await unit.store.close()


async def test_a_settled_patients_packs_reach_the_ward_without_a_full_scoring(unit: Unit) -> None:
    for second in range(1, 4):
        await unit.pack(second, pulse=80.0 + second, spo2=97.0)  # inside their NEWS2 bands

    assert unit.metrics.patients_scored == 4 and unit.metrics.patients_scored_unchanged == 3
    readings = unit.seen("readings")
    assert [e["values"][0]["value"] for e in readings[1:]] == [81.0, 82.0, 83.0]  # type: ignore[index]
    assert len(unit.seen("score")) == 1  # the first pack's; the score has not changed since


async def test_a_band_crossing_pack_of_a_settled_patient_opens_its_alert_on_time(unit: Unit) -> None:
    await unit.pack(1, spo2=97.0)
    await unit.pack(2, spo2=91.0)  # SpO2 <= 91: a single 3, confirmed after 20 s at the bedside
    for second in range(3, 23):
        await unit.pack(second, spo2=90.0)

    alerts = await unit.store.list_alerts(patient_ids=["p1"])
    assert [(a.kind.value, a.opened_at) for a in alerts] == [("news2", T0 + timedelta(seconds=22))]
    assert unit.metrics.patients_scored_unchanged == 1  # only the pack before the crossing took the shortcut
    assert [e["total"] for e in unit.seen("score")] == [0, 3]


async def test_a_rescore_request_scores_a_settled_patient_in_full(unit: Unit) -> None:
    await unit.store.set_spo2_scale(SpO2ScaleDecision("p1", SpO2Scale.SCALE_2, "dr-berg", T0))
    unit.scorer.add_patients(["p1"], refresh_scale=True)  # what the API sends after a doctor changes the scale
    await unit.pack(1, spo2=97.0)

    assert unit.metrics.patients_scored_unchanged == 0
    assert [e["spo2_scale"] for e in unit.seen("score")] == [1, 2]


async def test_a_patient_with_her_own_limits_is_scored_in_full_every_pack(unit: Unit) -> None:
    for second in range(1, 4):
        await unit.pack(second, "p2", **(CALM | {"spo2": 90.0}))  # inside her 88-92 %
    for second in range(4, 25):
        await unit.pack(second, "p2", spo2=87.0)  # below it; NEWS2's band (<= 91: 3) does not change

    assert unit.metrics.patients_scored_unchanged == 0
    alerts = await unit.store.list_alerts(patient_ids=["p2"])
    # Her limit, and the single 3 of SpO2 that her limit no longer accepts, after the bedside confirmation (20 s)
    opened = T0 + timedelta(seconds=24)
    assert sorted((a.kind.value, a.opened_at) for a in alerts) == [("news2", opened), ("patient_limit", opened)]


async def test_a_patient_without_values_is_scored_and_then_settled_without_a_failure(
    unit: Unit, caplog: pytest.LogCaptureFixture
) -> None:
    await unit.store.upsert_patient(Patient("p3", "Ny Pasient"))
    await unit.store.add_stay(Stay("st-p3", "p3", "w1", CareSetting.BEDSIDE, T0, bed_id="b3"))
    unit.scorer.add_patients(["p3"])  # a rescore request for a patient no monitor has sent anything for yet
    await unit.scorer.score_pending()
    await unit.pack(1, "p3", pulse=80.0)  # a parameter the settled score counted missing: scored in full

    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []
    assert [(e["patient_id"], e["missing"]) for e in unit.seen("score")][1:] == [
        ("p3", ["resp_rate", "spo2", "supplemental_o2", "systolic_bp", "pulse", "consciousness", "temperature"]),
        ("p3", ["resp_rate", "spo2", "supplemental_o2", "systolic_bp", "consciousness", "temperature"]),
    ]
    assert unit.metrics.patients_scored_unchanged == 0


def what_a_nurse_sees(unit: Unit) -> list[tuple[object, ...]]:
    """Readings deltas and alert events as published, and each distinct score (a repeat of an unchanged score is a
    heartbeat, whose timing the shortcut may move by up to FULL_SCORE_EVERY_S)."""
    seen: list[tuple[object, ...]] = []
    last_score: dict[object, tuple[object, ...]] = {}
    for event in unit.events:
        if event["type"] == "score":
            shown = tuple(event[k] for k in ("total", "complete", "risk", "parameter_scores", "missing", "spo2_scale"))
            if last_score.get(event["patient_id"]) != shown:
                seen.append(("score", event["patient_id"], event["computed_at"], *shown))
            last_score[event["patient_id"]] = shown
        else:
            seen.append((event["type"], *(v for k, v in sorted(event.items()) if k != "type")))
    return seen


# Values around the NEWS2 band edges of each parameter, and a pack's gap to the previous one.
_VALUES = {
    "resp_rate": st.sampled_from([8.0, 11.0, 12.0, 16.0, 20.0, 21.0, 24.0, 25.0]),
    "spo2": st.sampled_from([86.0, 91.0, 92.0, 93.0, 94.0, 95.0, 96.0, 98.0]),
    "pulse": st.sampled_from([40.0, 51.0, 80.0, 90.0, 91.0, 110.0, 111.0, 131.0]),
    "systolic_bp": st.sampled_from([90.0, 101.0, 110.0, 111.0, 150.0, 219.0, 220.0]),
}
# An episode: one patient's monitor sends the same values `repeats` times, `gap_s` apart (a condition held long
# enough to be confirmed, or not), after a pause.
_EPISODES = st.lists(
    st.tuples(
        st.sampled_from(PATIENTS),
        st.dictionaries(st.sampled_from(sorted(_VALUES)), st.just(0.0), min_size=1).flatmap(
            lambda keys: st.fixed_dictionaries({k: _VALUES[k] for k in keys})
        ),
        st.integers(min_value=1, max_value=25),
        st.sampled_from([0.5, 1.0, 2.0]),
        st.sampled_from([0.5, 1.0, 7.0, 30.0]),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(episodes=_EPISODES)
def test_the_shortcut_shows_the_ward_exactly_what_full_scoring_shows(
    episodes: list[tuple[str, dict[str, float], int, float, float]],
) -> None:
    async def run(full_score_every_s: float, directory: str) -> list[tuple[object, ...]]:
        unit = await open_unit(Path(directory) / "vaktrom.db", full_score_every_s=full_score_every_s)
        try:
            for patient_id in PATIENTS:
                await unit.pack(0, patient_id, **CALM)
            at_s = 0.0
            for patient_id, values, repeats, gap_s, pause_s in episodes:
                at_s += pause_s
                for repeat in range(repeats):
                    await unit.pack(at_s + repeat * gap_s, patient_id, **values)
                at_s += repeats * gap_s
            alerts = await unit.store.list_alerts(patient_ids=list(PATIENTS))
            stored = [(a.kind, a.severity, a.state, a.opened_at, a.updated_at) for a in alerts]
            return [*what_a_nurse_sees(unit), ("alerts in the store", stored)]
        finally:
            await unit.store.close()

    with tempfile.TemporaryDirectory() as with_shortcut, tempfile.TemporaryDirectory() as every_pack_in_full:
        assert asyncio.run(run(FULL_SCORE_EVERY_S, with_shortcut)) == asyncio.run(run(0.0, every_pack_in_full))
