"""The simulated unit on the wire: SenML packs the ingest accepts, the right cadence, and a patient who deteriorates."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest

from core.clock import utc_now
from core.mqtt import MqttClient, MqttOptions
from core.topics import obs_topic, parse_device_topic, status_topic
from core.types import Consciousness, Parameter
from core.vocabulary import ValueKind, measurement_for
from devices.demo import DemoUnit, bench_unit, demo_unit
from devices.packs import OFFLINE_PAYLOAD, StatusPayload
from devices.simulator import (
    NO_ARTEFACTS,
    Artefacts,
    Cadence,
    OutgoingMessage,
    UnitSimulator,
    make_bench_packs,
    run_simulator,
)
from ingest.validation import ValidationLimits, validate_pack
from scoring.news2 import Observation, score
from tests.devices.conftest import T0

ROOT = "vaktrom/v1"
UNIT = DemoUnit(
    site_id="demo-sykestue",
    ward_id="ward",
    beds=bench_unit(6, site_id="demo-sykestue").beds,
    deteriorating_patient_id="demo-sykestue-pat-00002",
)


def _run(simulator: UnitSimulator, seconds: int) -> list[tuple[datetime, OutgoingMessage]]:
    out: list[tuple[datetime, OutgoingMessage]] = []
    for second in range(seconds):
        now = T0 + timedelta(seconds=second)
        out += [(now, m) for m in simulator.step(now)]
    return out


def _records(payload: bytes) -> list[tuple[str, dict[str, Any], float]]:
    """(name, record, time in epoch seconds) per record, base time carried forward as RFC 8428 says."""
    base_time = 0.0
    out = []
    for record in orjson.loads(payload):
        base_time = record.get("bt", base_time)
        out.append((record["n"], record, base_time + record.get("t", 0.0)))
    return out


def _is_obs(message: OutgoingMessage) -> bool:
    return message.topic.endswith("/obs")


def test_every_record_uses_a_name_unit_and_value_kind_from_the_vocabulary() -> None:
    messages = _run(UnitSimulator(demo_unit(), ROOT, started_at=T0, speed=100.0, seed=1), 1200)
    error_codes = 0
    for _, message in filter(lambda m: _is_obs(m[1]), messages):
        for name, record, _ in _records(message.payload):
            measurement = measurement_for(name)
            assert measurement is not None, name
            if measurement.kind is ValueKind.NUMBER:
                assert record["u"] == measurement.canonical_unit and record["u"] in measurement.units
                value = record["v"]
                if value == 127 and measurement.parameter is Parameter.SPO2:
                    error_codes += 1
                    continue
                assert measurement.plausible_min <= value <= measurement.plausible_max, record
            elif measurement.kind is ValueKind.STRING:
                assert record["vs"] in ("A", "C", "V", "P", "U")
            else:
                assert isinstance(record["vb"], bool)
    assert error_codes < 20  # rare: about 1 in 2000 packs


def test_ingest_accepts_every_simulated_record_except_the_deliberate_error_code() -> None:
    artefacts = Artefacts(spo2_dropout=0.05, motion_spike=0.01, out_of_range=0.01)
    simulator = UnitSimulator(demo_unit(), ROOT, started_at=T0, speed=100.0, seed=2, artefacts=artefacts)
    limits = ValidationLimits(future_tolerance_s=120.0)
    rejected: list[str] = []
    accepted = Counter[Parameter]()
    for now, message in filter(lambda m: _is_obs(m[1]), _run(simulator, 600)):
        parsed = parse_device_topic(ROOT, message.topic)
        assert parsed is not None
        candidates, rejections = validate_pack(parsed.device_id, message.payload, received_at=now, limits=limits)
        accepted.update(c.parameter for c in candidates)
        rejected += [r.reason for r in rejections]
    assert rejected, "the out-of-range artefact should have happened at 1 % of 3600 packs"
    assert all("127 % is outside the physiological range" in reason for reason in rejected), rejected
    assert set(accepted) == set(Parameter)


def test_bedside_monitor_sends_a_pack_every_second_with_bp_every_5_min_and_temperature_every_10() -> None:
    simulator = UnitSimulator(UNIT, ROOT, started_at=T0, seed=3, artefacts=NO_ARTEFACTS)
    per_parameter: dict[str, Counter[str]] = defaultdict(Counter)
    packs = Counter[str]()
    for _, message in filter(lambda m: _is_obs(m[1]), _run(simulator, 601)):
        packs[message.topic] += 1
        for name, _, _ in _records(message.payload):
            per_parameter[message.topic][name] += 1
    monitors = [obs_topic(ROOT, UNIT.site_id, b.monitor_id) for b in UNIT.beds]
    assert packs == dict.fromkeys(monitors, 601)
    for topic in monitors:
        expected = {"heart-rate": 601, "resp-rate": 601, "spo2": 601, "sys-bp": 3, "dia-bp": 3, "body-temp": 2}
        assert per_parameter[topic] == expected


def test_packs_are_stamped_with_the_clock_in_epoch_seconds() -> None:
    simulator = UnitSimulator(UNIT, ROOT, started_at=T0, seed=3)
    now = T0 + timedelta(seconds=7)
    _run(simulator, 7)
    message = simulator.step(now)[0]
    [(_, first, at), *_] = _records(message.payload)
    assert first["bt"] == now.timestamp() == at


def test_home_kits_send_spot_checks_a_few_times_a_day_compressed_by_speed() -> None:
    unit = demo_unit()
    speed = 288.0  # three checks a day -> one every 100 s
    checks: dict[str, list[datetime]] = defaultdict(list)
    for now, message in _run(UnitSimulator(unit, ROOT, started_at=T0, speed=speed, seed=4), 301):
        parsed = parse_device_topic(ROOT, message.topic)
        if parsed is not None and parsed.kind == "obs" and parsed.device_id.startswith("demo-hjemmekit"):
            records = _records(message.payload)
            assert {n for n, _, _ in records} == {
                "spo2", "heart-rate", "resp-rate", "sys-bp", "dia-bp", "body-temp", "supp-o2"
            }  # fmt: skip
            assert max(t for _, _, t in records) == now.timestamp()  # measured over the last 90 s, none ahead
            checks[parsed.device_id].append(now)
    assert sorted(checks) == sorted(h.kit_id for h in unit.home_patients)
    for times in checks.values():
        assert len(times) in (3, 4)
        assert all(b - a == timedelta(seconds=100) for a, b in itertools.pairwise(times))


def test_copd_home_patient_reports_home_oxygen_and_spo2_in_the_scale_2_target() -> None:
    unit = demo_unit()
    assert unit.scale2_patient_id == unit.home_patients[0].patient_id
    kit_topic = obs_topic(ROOT, "demo-hjemme", unit.home_patients[0].kit_id)
    messages = [m for _, m in _run(UnitSimulator(unit, ROOT, started_at=T0, speed=1000.0, seed=5), 600)]
    records = [r for m in messages if m.topic == kit_topic for _, r, _ in _records(m.payload)]
    assert {r["vb"] for r in records if r["n"] == "supp-o2"} == {True}
    assert all(86 <= r["v"] <= 92 for r in records if r["n"] == "spo2")


def _news2_over_time(unit: DemoUnit, messages: list[tuple[datetime, OutgoingMessage]], patient_id: str) -> list[int]:
    """NEWS2 each second from the latest value of each parameter the patient's devices sent."""
    bed = next(b for b in unit.beds if b.patient_id == patient_id)
    topics = {obs_topic(ROOT, unit.site_id, d) for d in (bed.monitor_id, bed.chart_id) if d is not None}
    latest: dict[str, Any] = {}
    totals: list[int] = []
    for second, group in _by_second(messages):
        del second
        for message in group:
            if message.topic in topics:
                latest |= {
                    name: record.get("v", record.get("vs", record.get("vb")))
                    for name, record, _ in _records(message.payload)
                }
        obs = Observation(
            resp_rate_per_min=latest.get("resp-rate"),
            spo2_percent=latest.get("spo2") if latest.get("spo2") != 127 else None,
            supplemental_o2=latest.get("supp-o2"),
            systolic_bp_mmhg=latest.get("sys-bp"),
            pulse_per_min=latest.get("heart-rate"),
            consciousness=Consciousness.from_letter(latest["acvpu"]) if "acvpu" in latest else None,
            temperature_c=latest.get("body-temp"),
        )
        totals.append(score(obs).total)
    return totals


def _by_second(messages: list[tuple[datetime, OutgoingMessage]]) -> list[tuple[datetime, list[OutgoingMessage]]]:
    grouped: dict[datetime, list[OutgoingMessage]] = defaultdict(list)
    for now, message in messages:
        grouped[now].append(message)
    return sorted(grouped.items())


@pytest.mark.parametrize("seed", [11, 12])
def test_deteriorating_patient_crosses_news2_5_then_7_on_the_wire_and_others_stay_below(seed: int) -> None:
    unit = demo_unit()
    assert unit.deteriorating_patient_id is not None
    messages = _run(UnitSimulator(unit, ROOT, started_at=T0, seed=seed), 700)
    totals = _news2_over_time(unit, messages, unit.deteriorating_patient_id)
    crosses_5 = next(t for t, total in enumerate(totals) if total >= 5)
    crosses_7 = next(t for t, total in enumerate(totals) if total >= 7)
    assert 60 < crosses_5 < crosses_7 <= 660
    assert max(totals[-30:]) >= 15
    for bed in unit.beds:
        if bed.patient_id != unit.deteriorating_patient_id:
            assert max(_news2_over_time(unit, messages, bed.patient_id)) < 5


def test_nurse_charts_acvpu_and_oxygen_on_admission_and_when_they_change() -> None:
    unit = demo_unit()
    bed = next(b for b in unit.beds if b.patient_id == unit.deteriorating_patient_id)
    assert bed.chart_id is not None
    chart_topic = obs_topic(ROOT, unit.site_id, bed.chart_id)
    charted = [
        (int((now - T0).total_seconds()), {n: r.get("vs", r.get("vb")) for n, r, _ in _records(m.payload)})
        for now, m in _run(UnitSimulator(unit, ROOT, started_at=T0, seed=6), 700)
        if m.topic == chart_topic
    ]
    assert charted == [
        (0, {"acvpu": "A", "supp-o2": False}),
        (60 + 390, {"acvpu": "A", "supp-o2": True}),  # a nurse starts oxygen
        (60 + 510, {"acvpu": "C", "supp-o2": True}),  # new confusion
    ]


def test_status_is_retained_battery_drains_and_goodbye_is_the_last_will() -> None:
    unit = demo_unit()
    simulator = UnitSimulator(unit, ROOT, started_at=T0, seed=7)
    statuses: dict[str, list[StatusPayload]] = defaultdict(list)
    for _, message in _run(simulator, 3601):
        if message.topic.endswith("/status"):
            assert message.retain
            parsed = parse_device_topic(ROOT, message.topic)
            assert parsed is not None
            statuses[parsed.device_id].append(StatusPayload.model_validate_json(message.payload))
    assert sorted(statuses) == sorted(unit.device_ids)
    for reports in statuses.values():
        assert len(reports) in (60, 61)  # one a minute for an hour (staggered)
        assert all(r.online and r.firmware and r.signal_dbm is not None for r in reports)
        battery = [r.battery_percent or 0.0 for r in reports]
        assert battery == sorted(battery, reverse=True) and battery[0] != battery[-1]
    low_kit = [r.battery_percent or 0.0 for r in statuses[unit.home_patients[-1].kit_id]]
    assert low_kit[0] > 15 > low_kit[-1]  # the demo shows a low-battery alert

    goodbye = simulator.goodbye()
    home_kits = {h.kit_id for h in unit.home_patients}
    assert {m.topic for m in goodbye} == {
        status_topic(ROOT, "demo-hjemme" if d in home_kits else unit.site_id, d) for d in unit.device_ids
    }
    assert all(m.payload == OFFLINE_PAYLOAD and m.retain for m in goodbye)
    assert StatusPayload.model_validate_json(OFFLINE_PAYLOAD).online is False


def test_bench_packs_are_one_pack_of_5_readings_per_bed_per_second() -> None:
    packs = list(make_bench_packs(50, seconds=3, start_at=T0, topic_root=ROOT))
    assert len(packs) == 150
    topics = Counter(topic for topic, _ in packs)
    assert topics == {obs_topic(ROOT, "bench", b.monitor_id): 3 for b in bench_unit(50).beds}
    for index, (_, payload) in enumerate(packs):
        records = _records(payload)
        assert [n for n, _, _ in records] == ["heart-rate", "resp-rate", "spo2", "sys-bp", "body-temp"]
        assert {t for _, _, t in records} == {(T0 + timedelta(seconds=index // 50)).timestamp()}


async def test_run_simulator_publishes_every_device_then_says_goodbye_when_stopped() -> None:
    unit = demo_unit()
    stop = asyncio.Event()
    published: list[tuple[str, bytes, bool]] = []

    def publish(topic: str, payload: bytes, retain: bool) -> None:
        published.append((topic, payload, retain))
        stop.set()  # one tick is enough

    async with asyncio.timeout(10):
        await run_simulator(publish, unit, topic_root=ROOT, speed=1.0, clock=utc_now, stop=stop, seed=8)
    obs_devices = {parse_device_topic(ROOT, t).device_id for t, _, _ in published if t.endswith("/obs")}  # type: ignore[union-attr]
    assert obs_devices >= {b.monitor_id for b in unit.beds}
    goodbye = [(t, p) for t, p, retain in published if retain and p == OFFLINE_PAYLOAD]
    assert len(goodbye) == len(unit.device_ids)
    assert published[-1][1] == OFFLINE_PAYLOAD


@contextlib.asynccontextmanager
async def _client(url: str, client_id: str, *, subscribe: tuple[str, ...] = ()) -> AsyncIterator[MqttClient]:
    client = MqttClient(MqttOptions(url=url, client_id=client_id, clean_start=True))
    for topic_filter in subscribe:
        client.subscribe(topic_filter, qos=1)
    await client.connect()
    try:
        yield client
    finally:
        await client.disconnect()


async def _until_subscribed(publisher: MqttClient, subscriber: MqttClient, root: str) -> None:
    """Publish a probe until the subscriber gets it: then its subscriptions are in place at the broker."""
    probe = f"{root}/probe"
    async with asyncio.timeout(10):
        while True:
            await publisher.publish(probe, b"probe")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    while (await subscriber.inbox.get()).topic != probe:
                        pass
                    return


@pytest.mark.integration
async def test_simulator_publishes_well_formed_packs_to_mosquitto(mqtt_url: str, unique_topic_root: str) -> None:
    unit = demo_unit()
    root = unique_topic_root
    stop = asyncio.Event()
    measuring = {b.monitor_id for b in unit.beds} | {h.kit_id for h in unit.home_patients}
    seen_obs: set[str] = set()
    seen_status: set[str] = set()
    seen_offline: set[str] = set()
    async with (
        _client(mqtt_url, f"{root}-sub", subscribe=(f"{root}/#",)) as subscriber,
        _client(mqtt_url, f"{root}-pub") as publisher,
    ):
        await _until_subscribed(publisher, subscriber, root)
        simulation = asyncio.create_task(
            run_simulator(
                publisher, unit, topic_root=root, speed=1.0, clock=utc_now, stop=stop, seed=9,
                cadence=Cadence(home_stagger_s=0.0, status_interval_s=1.0),
            ),
            name="simulator",
        )  # fmt: skip
        try:
            async with asyncio.timeout(20):
                while not (measuring <= seen_obs and seen_status == set(unit.device_ids)):
                    message = await subscriber.inbox.get()
                    if message.topic == f"{root}/probe":
                        continue  # a late copy of the subscription probe
                    parsed = parse_device_topic(root, message.topic)
                    assert parsed is not None, message.topic
                    if parsed.kind == "obs":
                        assert all(measurement_for(name) is not None for name, _, _ in _records(message.payload))
                        seen_obs.add(parsed.device_id)
                    else:
                        assert StatusPayload.model_validate_json(message.payload).online
                        seen_status.add(parsed.device_id)
                stop.set()
                await simulation
                while seen_offline != set(unit.device_ids):
                    message = await subscriber.inbox.get()
                    parsed = parse_device_topic(root, message.topic)
                    if parsed is not None and message.payload == OFFLINE_PAYLOAD:
                        seen_offline.add(parsed.device_id)
        finally:
            stop.set()
            await simulation
    assert measuring <= seen_obs
    assert seen_offline == set(unit.device_ids)


_DEVICE_PROCESS = """
import asyncio, sys
from devices.demo import bench_unit
from devices.simulator import DeviceClients

async def main() -> None:
    url, root = sys.argv[1], sys.argv[2]
    clients = DeviceClients(url, bench_unit(2), topic_root=root, protocol_v5=True, client_id_prefix=root)
    await clients.connect()
    sys.stdout.write("connected\\n")
    sys.stdout.flush()
    await asyncio.Event().wait()

asyncio.run(main())
"""


@pytest.mark.integration
async def test_device_that_loses_power_leaves_its_last_will_offline_status(
    mqtt_url: str, unique_topic_root: str
) -> None:
    root = unique_topic_root
    devices = {b.monitor_id for b in bench_unit(2).beds}
    async with (
        _client(mqtt_url, f"{root}-sub", subscribe=(f"{root}/+/+/status", f"{root}/probe")) as subscriber,
        _client(mqtt_url, f"{root}-pub") as publisher,
    ):
        await _until_subscribed(publisher, subscriber, root)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _DEVICE_PROCESS, mqtt_url, root, stdout=asyncio.subprocess.PIPE
        )
        try:
            assert process.stdout is not None
            async with asyncio.timeout(20):
                assert await process.stdout.readline() == b"connected\n"
        finally:
            process.kill()  # the devices lose power: no DISCONNECT, the broker publishes their Last Will
            await process.wait()
        offline: set[str] = set()
        async with asyncio.timeout(20):
            while offline != devices:
                message = await subscriber.inbox.get()
                if message.topic == f"{root}/probe":
                    continue  # a late copy of the subscription probe
                parsed = parse_device_topic(root, message.topic)
                assert parsed is not None and message.payload == OFFLINE_PAYLOAD
                offline.add(parsed.device_id)
    assert StatusPayload.model_validate_json(OFFLINE_PAYLOAD) == StatusPayload(online=False)
