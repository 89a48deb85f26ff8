"""A burst of a ward's patient events reaches each dashboard as one `batch` delta, encoded once; alerts keep their
place between batches; a care-team socket gets only its patients' part of a batch; a quiet ward's events still come
one by one."""

from __future__ import annotations

import json
import time

import orjson

from core.events import AlertEvent, BatchEvent, ReadingsEvent, ReadingValue
from core.mqtt import RawMessage
from core.store.sqlite import SqliteStore
from core.topics import events_topic
from core.types import Role
from dashboard_api.live import BATCH_MIN_EVENTS, LiveHub
from tests.dashboard_api.conftest import NOW, FixedClock, Seeded, TokenFactory, build_app, offline_client, serve
from tests.dashboard_api.test_live import score_json
from tests.dashboard_api.test_ws import receive, ward_socket


def _readings(patient_id: str, pulse_bpm: float, ward_id: str = "w1") -> bytes:
    event = ReadingsEvent(
        site_id="s1" if ward_id == "w1" else "s2",
        ward_id=ward_id,
        at=NOW,
        patient_id=patient_id,
        bed_id=None,
        values=[ReadingValue(parameter="pulse", value=pulse_bpm, measured_at=NOW, device_id="mon-1")],
    )
    return event.model_dump_json().encode()


def _alert(alert_id: int) -> bytes:
    event = AlertEvent(
        site_id="s1",
        ward_id="w1",
        at=NOW,
        alert_id=alert_id,
        patient_id="p1",
        device_id=None,
        kind="news2",
        severity=3,
        severity_name="high",
        state="open",
        message="NEWS2 7",
        opened_at=NOW,
        updated_at=NOW,
        acknowledged_by=None,
    )
    return event.model_dump_json().encode()


def _raw(topic: str, payload: bytes) -> RawMessage:
    return RawMessage(topic, payload, 1, 1, False, time.time())


def _burst(topic_root: str, patients: list[str], *, first_pulse: int = 60) -> list[RawMessage]:
    topic = events_topic(topic_root, "s1", "w1", "readings")
    return [_raw(topic, _readings(p, first_pulse + n)) for n, p in enumerate(patients)]


def test_a_burst_becomes_one_batch_per_ward_and_an_alert_keeps_its_place() -> None:
    hub = LiveHub(offline_client(), topic_root="r")
    before = _burst("r", ["p1", "p2", "p1"], first_pulse=50)
    after = _burst("r", ["p1", "p2"] * 5, first_pulse=70)
    other_ward = [_raw("r/events/s2/w2/readings", _readings("p3", 80, ward_id="w2"))]
    with hub.subscribe(["w1"]) as board, hub.subscribe(["w2"]) as other:
        hub.dispatch_many([*before, _raw("r/events/s1/w1/alert", _alert(41)), *after, *other_ward])
        deltas = [orjson.loads(board.queue.get_nowait()) for _ in range(board.queue.qsize())]  # plain str
        assert json.loads(other.queue.get_nowait())["patient_id"] == "p3"  # one event of w2: as it is, unwrapped
    # Three readings before the alert are too few to wrap: they go as they are, then the alert, then one batch.
    assert [d["type"] for d in deltas] == ["readings", "readings", "readings", "alert", "batch"]
    assert [d["values"][0]["value"] for d in deltas[:3]] == [50, 51, 52]
    batch = deltas[-1]
    assert (batch["site_id"], batch["ward_id"], batch["at"]) == ("s1", "w1", "2025-01-15T08:00:00Z")
    assert [(e["patient_id"], e["values"][0]["value"]) for e in batch["events"]] == [
        (p, 70 + n) for n, p in enumerate(["p1", "p2"] * 5)
    ]
    assert len(batch["events"]) >= BATCH_MIN_EVENTS


async def test_a_nurse_gets_the_burst_as_one_batch_delta_and_a_care_team_doctor_only_their_patients_part(
    store: SqliteStore, seeded: Seeded, clock: FixedClock, topic_root: str, token: TokenFactory
) -> None:
    app = build_app(store, offline_client(), topic_root=topic_root, clock=clock)
    hub = LiveHub(offline_client(), topic_root=topic_root)
    app.state.live = hub
    nurse = token()
    doctor = token(Role.DOCTOR, ("s3",), user="dr-berg")  # not of site s1: sees Ola (p1) as his supervising doctor
    async with (
        serve(app) as served,
        ward_socket(served, "/api/v1/ws/wards/w1", nurse) as nurse_socket,
        ward_socket(served, "/api/v1/ws/wards/w1", doctor) as doctor_socket,
    ):
        assert (await receive(nurse_socket))["type"] == "snapshot"
        [board] = (await receive(doctor_socket))["wards"]
        assert [b["patient"]["patient_id"] for b in board["beds"] if b["patient"]] == ["p1"]
        hub.dispatch_many(_burst(topic_root, ["p1", "p2"] * 6))
        hub.dispatch_many(_burst(topic_root, ["p2"] * 9))  # none of it is the doctor's
        hub.dispatch(events_topic(topic_root, "s1", "w1", "score"), score_json("w1", total=4))
        seen_by_nurse = [await receive(nurse_socket) for _ in range(3)]
        seen_by_doctor = [await receive(doctor_socket) for _ in range(2)]
    assert [(d["seq"], d["type"], len(d.get("events", []))) for d in seen_by_nurse] == [
        (1, "batch", 12),
        (2, "batch", 9),
        (3, "score", 0),
    ]
    first, score = seen_by_doctor
    assert (first["seq"], first["type"], score["seq"], score["total"]) == (1, "batch", 2, 4)
    assert [(e["patient_id"], e["values"][0]["value"]) for e in first["events"]] == [
        ("p1", 60 + n) for n in range(0, 12, 2)
    ]
    audit = await store.list_audit(limit=10)
    assert not [a for a in audit if a.detail == "appeared"]  # everyone in the batches was on the boards already


def test_a_batch_from_ingest_joins_the_burst_of_its_ward_and_reaches_the_board_as_one_delta() -> None:
    hub = LiveHub(offline_client(), topic_root="r")
    events = [ReadingsEvent.model_validate_json(raw.payload) for raw in _burst("r", ["p1", "p2"] * 4)]
    from_ingest = BatchEvent(site_id="s1", ward_id="w1", at=NOW, events=list(events)).model_dump_json().encode()
    with hub.subscribe(["w1"]) as board:
        hub.dispatch_many([_raw("r/events/s1/w1/batch", from_ingest), *_burst("r", ["p2"], first_pulse=90)])
        [delta] = [json.loads(board.queue.get_nowait()) for _ in range(board.queue.qsize())]
        assert hub.dispatch("r/events/s1/w1/batch", from_ingest) == 1  # alone, too
    assert delta["type"] == "batch"
    assert [e["values"][0]["value"] for e in delta["events"]] == [60, 61, 62, 63, 64, 65, 66, 67, 90]
