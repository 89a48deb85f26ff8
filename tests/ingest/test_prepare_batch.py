"""A batch's in-batch duplicates (a pack redelivered before its first copy was acked, or a device sending a record
twice) are split off as dead letters before attribution; every first copy is attributed, in arrival order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from core.mqtt import RawMessage
from core.store import Store
from core.topics import obs_topic
from core.types import Parameter
from ingest.attribution import DeviceDirectory
from ingest.metrics import IngestMetrics
from ingest.pipeline import REASON_DUPLICATE, parse_batch, prepare_batch
from ingest.validation import ValidationLimits
from tests.ingest.conftest import SITE, seed_ward, vitals_pack

ROOT = "vk"
LIMITS = ValidationLimits(future_tolerance_s=60.0)


def _message(device: str, pack: list[dict[str, object]], mid: int, now: datetime) -> RawMessage:
    topic = obs_topic(ROOT, SITE, device)
    return RawMessage(topic, orjson.dumps(pack), mid=mid, qos=1, retain=False, received_at=now.timestamp())


async def test_in_batch_duplicates_are_dead_lettered_and_first_copies_attributed_in_order(store: Store) -> None:
    await seed_ward(store)
    now = datetime.now(UTC).replace(microsecond=0)
    first, second = now - timedelta(seconds=20), now - timedelta(seconds=10)
    pulse_again = [{"bt": first.timestamp(), "n": "heart-rate", "u": "beat/min", "v": 99}]  # same key, other value
    messages = [
        _message("dev-1", vitals_pack(first, pulse=70), 1, now),
        _message("dev-2", vitals_pack(first, pulse=80), 2, now),
        _message("dev-1", vitals_pack(first, pulse=70), 3, now),  # the whole pack again
        _message("dev-1", [*vitals_pack(second, pulse=71), *pulse_again], 4, now),  # one record again
    ]
    parsed = parse_batch(messages, root=ROOT, limits=LIMITS)

    prepared = await prepare_batch(store, DeviceDirectory(store), parsed, metrics=IngestMetrics())

    pulses = [
        (r.device_id, r.patient_id, r.value, r.measured_at) for r in prepared.readings if r.parameter is Parameter.PULSE
    ]
    assert pulses == [("dev-1", "p-1", 70.0, first), ("dev-2", "p-2", 80.0, first), ("dev-1", "p-1", 71.0, second)]
    assert len(prepared.readings) == 3 * 5
    assert prepared.in_batch_duplicates == 5 + 1
    assert [letter.reason for letter in prepared.dead_letters] == [REASON_DUPLICATE] * 6
    assert {letter.topic for letter in prepared.dead_letters} == {obs_topic(ROOT, SITE, "dev-1")}
    assert orjson.loads(prepared.dead_letters[-1].payload) == pulse_again[0]
