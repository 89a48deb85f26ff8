"""The ingest worker end to end: real Mosquitto, both stores, readings in, rows and events out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import orjson
import pytest

from core.errors import StorageUnavailable
from core.events import RescoreRequest, RiskEvent, ScoreEvent, decode_event
from core.mqtt import MqttClient
from core.store import Store
from core.topics import events_filter, obs_topic, rescore_topic, status_topic
from core.types import (
    AlertKind,
    AlertSeverity,
    AppendResult,
    DeadLetter,
    Pairing,
    Parameter,
    Reading,
    RiskAssessment,
    RiskLevel,
)
from tests.fixtures.mosquitto import MosquittoBroker
from tests.ingest.conftest import SITE, epoch, ingest_settings, next_message, seed_ward, vitals_pack, wait_until

pytestmark = pytest.mark.integration

Start = Callable[..., Any]


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


async def _publish(client: MqttClient, topic: str, pack: object) -> None:
    await client.publish(topic, pack if isinstance(pack, bytes) else orjson.dumps(pack), qos=1)


async def _dead_letters(store: Store, count: int) -> list[DeadLetter]:
    async def enough() -> list[DeadLetter] | None:
        letters = await store.list_dead_letters(limit=1000)
        return letters if len(letters) >= count else None

    result: list[DeadLetter] = await wait_until(enough, what=f"{count} dead letters")
    return result


async def _readings(store: Store, count: int) -> int:
    async def enough() -> int | None:
        stored = await store.count_readings()
        return stored if stored >= count else None

    result: int = await wait_until(enough, what=f"{count} stored readings")
    return result


async def test_published_vitals_are_stored_and_a_score_event_follows(
    store: Store, start_ingest: Start, mqtt_client: MqttClient, mqtt_url: str, unique_topic_root: str
) -> None:
    root = unique_topic_root
    await seed_ward(store)
    mqtt_client.subscribe(events_filter(root))
    await mqtt_client.wait_connected()
    await start_ingest(ingest_settings(mqtt_url, root), store)
    at = _now()

    await _publish(mqtt_client, obs_topic(root, SITE, "dev-1"), vitals_pack(at, pulse=135, spo2=90))

    score = await _next_score_event(mqtt_client, patient_id="p-1")
    assert await store.count_readings() == 5
    history = await store.readings("p-1", since=at - timedelta(seconds=1), until=at + timedelta(seconds=1))
    assert {(r.parameter, r.value) for r in history} >= {(Parameter.PULSE, 135.0), (Parameter.SPO2, 90.0)}
    assert (score.ward_id, score.site_id, score.bed_id) == ("ward-1", SITE, "bed-1")
    # pulse 135 scores 3 and SpO2 90 on scale 1 scores 3 (NEWS2.md); consciousness and oxygen were never charted
    assert score.parameter_scores["pulse"] == 3
    assert score.parameter_scores["spo2"] == 3
    assert score.complete is False
    assert set(score.missing) == {"consciousness", "supplemental_o2"}


async def _next_score_event(client: MqttClient, *, patient_id: str) -> ScoreEvent:
    async with asyncio.timeout(30):
        while True:
            event = decode_event((await next_message(client, topic_part="/events/")).payload)
            if isinstance(event, ScoreEvent) and event.patient_id == patient_id:
                return event


async def test_bad_input_is_dead_lettered_with_its_reason_and_good_records_still_stored(
    store: Store, start_ingest: Start, mqtt_client: MqttClient, mqtt_url: str, unique_topic_root: str
) -> None:
    root = unique_topic_root
    await seed_ward(store)
    await start_ingest(ingest_settings(mqtt_url, root), store)
    at = epoch(_now())

    await _publish(mqtt_client, obs_topic(root, SITE, "dev-1"), b'[{"n": "spo2", "v": 97')
    await _publish(mqtt_client, obs_topic(root, SITE, "dev-unknown"), [{"bt": at, "n": "spo2", "v": 97}])
    await _publish(mqtt_client, obs_topic(root, "site-2", "dev-2"), [{"bt": at, "n": "spo2", "v": 97}])
    await _publish(
        mqtt_client,
        obs_topic(root, SITE, "dev-1"),
        [{"bt": at, "n": "heart-rate", "v": 70}, {"n": "glucose", "v": 5}, {"n": "spo2", "v": 140}],
    )

    letters = await _dead_letters(store, 5)
    reasons = sorted(letter.reason for letter in letters)
    assert reasons[0].startswith("device registered at site 'site-1', not at the topic's site 'site-2'")
    assert reasons[1].startswith("payload: malformed JSON")
    assert reasons[2] == "record 1: n: unknown measurement name 'glucose'"
    assert reasons[3].startswith("record 2: v: 140 % is outside the physiological range 40-100 for spo2")
    assert reasons[4].startswith("unknown device")
    assert await _readings(store, 1) == 1
    assert {letter.device_id for letter in letters} == {"dev-1", "dev-2", "dev-unknown"}


async def test_what_the_contract_rejects_is_dead_lettered_saying_why_and_the_rest_of_the_pack_stored(
    store: Store, start_ingest: Start, mqtt_client: MqttClient, mqtt_url: str, unique_topic_root: str
) -> None:
    root = unique_topic_root
    await seed_ward(store)
    await start_ingest(ingest_settings(mqtt_url, root), store)
    at = orjson.dumps(epoch(_now())).decode()
    obs, status = obs_topic(root, SITE, "dev-1"), status_topic(root, SITE, "dev-1")

    await _publish(
        mqtt_client, obs, f'[{{"bt": {at}, "n": "heart-rate", "v": 70}}, {{"n": "spo2", "v": 95, "v": 60}}]'.encode()
    )
    await _publish(mqtt_client, obs, f'[{{"bt": {at}, "n": "resp-rate", "v": 16, "t": null}}]'.encode())
    await _publish(mqtt_client, obs, f'[{{"bt": {at}, "bn": "evil/dev-1/", "n": "spo2", "v": 96}}]'.encode())
    await _publish(mqtt_client, obs, b'[{"n": "body-temp", "v": 37.2}]')  # no time: it would be dated on arrival
    await _publish(mqtt_client, status, b'{"online": "yes"}')
    await _publish(mqtt_client, status, b'{"online": true, "battery_percent": "50"}')

    letters = await _dead_letters(store, 6)
    reasons = sorted(letter.reason for letter in letters)
    assert reasons[0] == "battery_percent: Input should be a valid number"
    assert reasons[1] == "online: Input should be a valid boolean"
    assert reasons[2].startswith("record 0: n: 'evil/dev-1/spo2' names another device than the topic's 'dev-1'")
    assert reasons[3].startswith("record 0: t: no absolute time (bt + t = 0 s)")
    assert reasons[4] == "record 0: t: null is not a value; leave the field out"
    assert reasons[5] == "record 1: v: the key appears more than once in the record"
    assert await _readings(store, 1) == 1  # the pulse of the first pack
    assert await store.list_device_status(device_ids=["dev-1"]) == []


async def test_a_redelivered_pack_is_stored_once_and_its_copy_dead_lettered_as_duplicate(
    store: Store, start_ingest: Start, mqtt_client: MqttClient, mqtt_url: str, unique_topic_root: str
) -> None:
    root = unique_topic_root
    await seed_ward(store)
    await start_ingest(ingest_settings(mqtt_url, root), store)
    pack = vitals_pack(_now())

    await _publish(mqtt_client, obs_topic(root, SITE, "dev-1"), pack)
    await _readings(store, 5)
    await _publish(mqtt_client, obs_topic(root, SITE, "dev-1"), pack)

    letters = await _dead_letters(store, 5)
    assert {letter.reason for letter in letters} == {"duplicate reading"}
    assert await store.count_readings() == 5


async def test_copies_in_batches_stored_side_by_side_are_one_row_and_one_duplicate_each(
    store: Store, start_ingest: Start, mqtt_client: MqttClient, mqtt_url: str, unique_topic_root: str
) -> None:
    root = unique_topic_root
    await seed_ward(store)
    # Three messages per batch: a pack and its copy often land in consecutive batches, whose appends run at once.
    worker = await start_ingest(ingest_settings(mqtt_url, root, ingest_batch_max=3), store)
    start = _now() - timedelta(minutes=5)

    for n in range(60):
        pack = vitals_pack(start + timedelta(seconds=n))
        await _publish(mqtt_client, obs_topic(root, SITE, "dev-1"), pack)
        await _publish(mqtt_client, obs_topic(root, SITE, "dev-1"), pack)

    letters = await _dead_letters(store, 300)
    assert {letter.reason for letter in letters} == {"duplicate reading"}
    assert len(letters) == 300
    assert await store.count_readings() == 300
    assert await wait_until(lambda: worker.metrics.readings_stored == 300, what="every reading acknowledged")


async def test_a_reading_goes_to_the_patient_paired_at_its_own_timestamp(
    store: Store, start_ingest: Start, mqtt_client: MqttClient, mqtt_url: str, unique_topic_root: str
) -> None:
    root = unique_topic_root
    await seed_ward(store)
    moved_at = _now() - timedelta(minutes=10)
    await store.pair_device(Pairing("dev-1", "p-2", moved_at, bed_id="bed-2"))  # moved from bed 1 to bed 2
    await start_ingest(ingest_settings(mqtt_url, root), store)
    before, after = moved_at - timedelta(minutes=5), moved_at + timedelta(minutes=5)
    long_ago = _now() - timedelta(days=3)  # before the device was ever paired

    topic = obs_topic(root, SITE, "dev-1")
    for at, pulse in ((before, 61), (after, 62), (long_ago, 63)):
        await _publish(mqtt_client, topic, [{"bt": epoch(at), "n": "heart-rate", "v": pulse}])

    await _readings(store, 2)
    since, until = long_ago - timedelta(hours=1), _now()
    assert [r.value for r in await store.readings("p-1", since=since, until=until)] == [61.0]
    assert [r.value for r in await store.readings("p-2", since=since, until=until)] == [62.0]
    (letter,) = await _dead_letters(store, 1)
    assert letter.reason.startswith("no patient paired (pulse at ")


async def test_status_reports_and_the_last_will_mark_a_device_online_then_offline(
    store: Store, start_ingest: Start, mqtt_client: MqttClient, mosquitto: MosquittoBroker, unique_topic_root: str
) -> None:
    root = unique_topic_root
    await seed_ward(store)
    mqtt_client.subscribe(events_filter(root))
    await start_ingest(ingest_settings(mosquitto.url(), root), store)
    topic = status_topic(root, SITE, "dev-1")
    status = {"online": True, "battery_percent": 81.5, "signal_dbm": -67, "firmware": "2.1.0", "t": epoch(_now())}
    await _publish(mqtt_client, topic, status)
    online = await wait_until(lambda: store.list_device_status(device_ids=["dev-1"]), what="a stored status")
    assert (online[0].online, online[0].battery_percent, online[0].firmware) == (True, 81.5, "2.1.0")

    await _die_leaving_a_last_will(mosquitto, topic)

    async def offline() -> bool:
        return [s.online for s in await store.list_device_status(device_ids=["dev-1"])] == [False]

    await wait_until(offline, what="the Last Will stored")
    event = decode_event((await next_message(mqtt_client, topic_part="/device_status")).payload)
    assert event.type == "device_status"


async def _die_leaving_a_last_will(mosquitto: MosquittoBroker, topic: str) -> None:
    """A device client that connects with a retained Last Will and is then killed (no DISCONNECT)."""
    device = await asyncio.create_subprocess_exec(
        "stdbuf", "-oL", "mosquitto_sub",
        "-h", mosquitto.host, "-p", str(mosquitto.port), "-V", "5", "-t", "nothing/here", "-d",
        "--will-topic", topic, "--will-payload", '{"online": false}', "--will-retain", "--will-qos", "1",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert device.stdout is not None
    try:
        async with asyncio.timeout(30):
            while b"SUBACK" not in await device.stdout.readline():  # connected: the will is registered
                pass
    finally:
        device.kill()
        await device.wait()


async def test_a_rescore_request_publishes_a_fresh_score(
    store: Store, start_ingest: Start, mqtt_client: MqttClient, mqtt_url: str, unique_topic_root: str
) -> None:
    root = unique_topic_root
    await seed_ward(store)
    await store.append(
        [Reading("dev-1", "p-1", Parameter.RESP_RATE, 26.0, _now(), _now())], []
    )  # e.g. a nurse's manual entry stored by the API
    mqtt_client.subscribe(events_filter(root))
    await start_ingest(ingest_settings(mqtt_url, root), store)

    await _publish(mqtt_client, rescore_topic(root), RescoreRequest(patient_ids=["p-1"]).model_dump_json().encode())

    score = await _next_score_event(mqtt_client, patient_id="p-1")
    assert score.parameter_scores["resp_rate"] == 3  # >= 25 breaths/min


class _FaultyDisk:
    """The real store, for fault injection: subclasses change `append`, everything else is the store's own."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class _FailingDisk(_FaultyDisk):
    """`append` fails the first `failures` times."""

    def __init__(self, store: Store, failures: int) -> None:
        super().__init__(store)
        self.failures_left = failures

    async def append(self, readings: Sequence[Reading], dead_letters: Sequence[DeadLetter]) -> AppendResult:
        if self.failures_left > 0:
            self.failures_left -= 1
            raise StorageUnavailable("test disk", detail="I/O error")
        return await self._store.append(readings, dead_letters)


async def test_a_store_outage_delays_readings_but_loses_none(
    store: Store, start_ingest: Start, mqtt_client: MqttClient, mqtt_url: str, unique_topic_root: str
) -> None:
    root = unique_topic_root
    await seed_ward(store)
    failing = _FailingDisk(store, failures=4)
    worker = await start_ingest(ingest_settings(mqtt_url, root), cast(Store, failing))
    start = _now() - timedelta(minutes=5)

    for n in range(20):
        await _publish(mqtt_client, obs_topic(root, SITE, "dev-1"), vitals_pack(start + timedelta(seconds=n)))

    assert await _readings(store, 100) == 100
    assert failing.failures_left == 0
    assert worker.metrics.storage_retries >= 4
    assert await store.count_dead_letters() == 0


class _StallingDisk(_FaultyDisk):
    """The first `append` stalls until released (a disk that hangs on one write)."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.stalled = asyncio.Event()
        self.release = asyncio.Event()

    async def append(self, readings: Sequence[Reading], dead_letters: Sequence[DeadLetter]) -> AppendResult:
        if not self.stalled.is_set():
            self.stalled.set()
            await self.release.wait()
        return await self._store.append(readings, dead_letters)


async def test_the_next_batch_is_stored_beside_a_slow_write_but_acknowledged_only_after_it(
    store: Store, start_ingest: Start, mqtt_client: MqttClient, mqtt_url: str, unique_topic_root: str
) -> None:
    root = unique_topic_root
    await seed_ward(store)
    disk = _StallingDisk(store)
    worker = await start_ingest(ingest_settings(mqtt_url, root), cast(Store, disk))
    start = _now() - timedelta(minutes=5)

    await _publish(mqtt_client, obs_topic(root, SITE, "dev-1"), vitals_pack(start))
    await disk.stalled.wait()  # the first batch's write hangs
    await _publish(mqtt_client, obs_topic(root, SITE, "dev-1"), vitals_pack(start + timedelta(seconds=1)))

    assert await _readings(store, 5) == 5  # the second batch is stored meanwhile...
    await asyncio.sleep(0.2)
    assert worker.metrics.readings_stored == 0  # ...but neither is acknowledged (nor scored) before the first
    disk.release.set()
    assert await _readings(store, 10) == 10
    assert await wait_until(lambda: worker.metrics.readings_stored == 10, what="both batches acknowledged")
    assert await store.count_dead_letters() == 0


class _StuckModel:
    """A risk model that never answers (a hung prediction): NEWS2 must not wait for it."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()

    async def __call__(self, store: Store, patient_ids: Sequence[str], now: datetime) -> list[RiskAssessment]:
        self.asked.set()
        await asyncio.Event().wait()
        return []


class _WorriedModel:
    """A risk model that flags every patient it is asked about."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def __call__(self, store: Store, patient_ids: Sequence[str], now: datetime) -> list[RiskAssessment]:
        self.asked.extend(patient_ids)
        return [
            RiskAssessment(p, now, 0.8, RiskLevel.RAISED, reasons=("respiration rate rising",), model_version="t")
            for p in patient_ids
        ]


async def test_a_hung_risk_model_never_holds_up_news2_scores(
    store: Store, start_ingest: Start, mqtt_client: MqttClient, mqtt_url: str, unique_topic_root: str
) -> None:
    root = unique_topic_root
    await seed_ward(store)
    mqtt_client.subscribe(events_filter(root))
    await mqtt_client.wait_connected()
    model = _StuckModel()
    await start_ingest(ingest_settings(mqtt_url, root), store, risk_assessor=model)
    start = _now() - timedelta(seconds=30)

    await _publish(mqtt_client, obs_topic(root, SITE, "dev-1"), vitals_pack(start, pulse=72))
    await model.asked.wait()
    await _publish(mqtt_client, obs_topic(root, SITE, "dev-1"), vitals_pack(start + timedelta(seconds=1), pulse=135))

    while (score := await _next_score_event(mqtt_client, patient_id="p-1")).parameter_scores["pulse"] != 3:
        pass  # the first pack's score (pulse 72 scores 0) comes first
    assert score.parameter_scores["pulse"] == 3  # pulse 135 (NEWS2.md)
    assert await store.count_readings() == 10


async def test_a_raised_ml_risk_opens_an_alert_and_publishes_a_risk_event_once_per_interval(
    store: Store, start_ingest: Start, mqtt_client: MqttClient, mqtt_url: str, unique_topic_root: str
) -> None:
    root = unique_topic_root
    await seed_ward(store)
    mqtt_client.subscribe(events_filter(root))
    await mqtt_client.wait_connected()
    model = _WorriedModel()
    await start_ingest(ingest_settings(mqtt_url, root, risk_min_interval_s=3600), store, risk_assessor=model)
    start = _now() - timedelta(seconds=30)

    for n in range(3):
        await _publish(mqtt_client, obs_topic(root, SITE, "dev-1"), vitals_pack(start + timedelta(seconds=n)))

    event = await _next_risk_event(mqtt_client)
    assert (event.patient_id, event.level, event.reasons) == ("p-1", "raised", ["respiration rate rising"])
    await _readings(store, 15)
    alerts = await wait_until(lambda: store.list_alerts(ward_ids=["ward-1"]), what="the ML risk alert")
    assert [(a.patient_id, a.kind, a.severity) for a in alerts] == [
        ("p-1", AlertKind.ML_RISK, AlertSeverity.LOW_MEDIUM)
    ]
    assert alerts[0].message == "Raised deterioration risk (80%): respiration rate rising"
    assert model.asked == ["p-1"]  # three packs, one assessment: at most once per risk_min_interval_s


async def _next_risk_event(client: MqttClient) -> RiskEvent:
    async with asyncio.timeout(30):
        while True:
            event = decode_event((await next_message(client, topic_part="/events/")).payload)
            if isinstance(event, RiskEvent):
                return event
