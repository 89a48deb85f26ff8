"""LiveHub: each ward event reaches the connections watching the ward of its topic, and only those; connections that
may have missed an event are told to resnapshot (tested on a real broker in tests/deploy/test_broker_trust.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest

from core.events import ScoreEvent
from core.mqtt import RawMessage
from dashboard_api.live import CLIENT_QUEUE_BEDS, LiveHub
from tests.dashboard_api.conftest import NOW, offline_client

# The seeded wards' sites (tests/dashboard_api/conftest.py): an event names the same site as its topic.
SITE_OF_WARD = {"w1": "s1", "w2": "s2"}


def score_json(ward_id: str = "w1", total: int = 7) -> bytes:
    event = ScoreEvent(
        site_id=SITE_OF_WARD.get(ward_id, "s1"),
        ward_id=ward_id,
        at=NOW,
        patient_id="p1",
        bed_id="b1",
        total=total,
        complete=True,
        risk="high",
        single_param_3=False,
        parameter_scores={"pulse": 3, "resp_rate": 3, "spo2": 1},
        missing=[],
        spo2_scale=1,
        computed_at=NOW,
    )
    return event.model_dump_json().encode()


def test_event_goes_to_its_wards_subscribers_only() -> None:
    hub = LiveHub(offline_client(), topic_root="r")
    with hub.subscribe(["w1"]) as w1, hub.subscribe(["w2"]) as w2, hub.subscribe(["w1", "w2"]) as both:
        assert hub.dispatch("r/events/s1/w1/score", score_json("w1")) == 2
        assert json.loads(w1.queue.get_nowait())["total"] == 7
        assert json.loads(both.queue.get_nowait())["ward_id"] == "w1"
        assert w2.queue.empty()
        assert hub.connections == 3
    assert hub.connections == 0
    assert hub.dispatch("r/events/s1/w1/score", score_json("w1")) == 0


def test_malformed_event_is_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    hub = LiveHub(offline_client(), topic_root="r")
    with caplog.at_level(logging.WARNING), hub.subscribe(["w1"]) as sub:
        assert hub.dispatch("r/events/s1/w1/score", b'{"type": "score", "ward_id": "w1"}') == 0
        assert hub.dispatch("r/events/s1/w1/score", b"not json") == 0
        assert sub.queue.empty()
    assert (hub.events_received, hub.events_rejected) == (2, 2)
    assert caplog.messages[0].startswith("Skipped a malformed ward event on r/events/s1/w1/score: ")


def test_a_full_connection_queue_flags_overflow_and_spares_the_others() -> None:
    hub = LiveHub(offline_client(), topic_root="r", queue_max=2)
    with hub.subscribe(["w1"]) as slow, hub.subscribe(["w1"]) as fast:
        for total in range(3):
            hub.dispatch("r/events/s1/w1/score", score_json(total=total))
            if total < 2:
                fast.queue.get_nowait()
        assert slow.overflowed.is_set() and slow.queue.qsize() == 2
        assert not fast.overflowed.is_set() and fast.queue.qsize() == 1
        assert hub.backlog == 3


@pytest.mark.parametrize(
    ("beds", "held"),
    [(4, 2), (CLIENT_QUEUE_BEDS, 2), (CLIENT_QUEUE_BEDS + 1, 4), (8 * CLIENT_QUEUE_BEDS, 16), (0, 2)],
)
def test_a_bigger_board_holds_as_many_deltas_per_bed_before_it_overflows(beds: int, held: int) -> None:
    """A storm of one alert per bed must not close every dashboard of a 1000-bed ward; a small ward's page that is
    stuck still overflows as soon as before."""
    hub = LiveHub(offline_client(), topic_root="r", queue_max=2)
    with hub.subscribe(["w1"]) as board:
        board.fit_board(beds)
        board.fit_board(beds)  # a second look at the board changes nothing
        for total in range(held):
            hub.dispatch("r/events/s1/w1/score", score_json(total=total))
        assert not board.overflowed.is_set() and board.queue.qsize() == held
        hub.dispatch("r/events/s1/w1/score", score_json(total=held))
        assert board.overflowed.is_set() and board.queue.qsize() == held


async def test_run_dispatches_what_the_client_receives() -> None:
    client = offline_client()
    hub = LiveHub(client, topic_root="r")
    with hub.subscribe(["w1"]) as sub:
        task = asyncio.create_task(hub.run(), name="live-hub")
        client.inbox.put_nowait(RawMessage("r/events/s1/w1/score", score_json(total=9), 1, 1, False, time.time()))
        async with asyncio.timeout(5):
            message = await sub.queue.get()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert json.loads(message)["total"] == 9


@pytest.mark.parametrize(
    ("topic", "what"),
    [
        ("r/events/s1/w2/score", "its payload names site s1, ward w1, type score"),  # a payload for another ward
        ("r/events/s9/w1/score", "its payload names site s1, ward w1, type score"),
        ("r/events/s1/w1/alert", "its payload names site s1, ward w1, type score"),
        ("r/s1/dev-1/obs", "not an events topic"),
    ],
)
def test_an_event_whose_payload_disagrees_with_its_topic_is_dropped_counted_and_logged(
    topic: str, what: str, caplog: pytest.LogCaptureFixture
) -> None:
    hub = LiveHub(offline_client(), topic_root="r")
    with caplog.at_level(logging.WARNING), hub.subscribe(["w1"]) as w1, hub.subscribe(["w2"]) as w2:
        assert hub.dispatch(topic, score_json("w1")) == 0
        assert w1.queue.empty() and w2.queue.empty()
    assert (hub.events_received, hub.events_mismatched) == (1, 1)
    assert caplog.messages == [f"Dropped 1 ward events whose topic and payload disagree; the latest on {topic}: {what}"]
