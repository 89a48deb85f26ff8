"""A simulated unit that publishes like real devices: bedside SenML every second, home spot checks, nurse charting,
retained device status with a Last Will. The message schedule is plain code (`UnitSimulator.step`); the async loop
that publishes it is thin.

Real devices each connect with their own credentials and their own Last Will. A simulated unit of a thousand beds
cannot open a thousand connections from one process, so `run_simulator` publishes every device's topic through one
client; `DeviceClients` gives each device its own connection and Last Will for demo-sized units.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from core.clock import Clock
from core.topics import obs_topic, status_topic
from core.types import Consciousness, Parameter
from devices.artefacts import NO_ARTEFACTS, REALISTIC_ARTEFACTS, ArtefactRun, Artefacts, with_artefacts
from devices.delivery import Courier, DeliveringPublisher, DeliveryStats
from devices.demo import DemoBed, DemoHomePatient, DemoUnit, bench_unit
from devices.device_clients import DeviceClients
from devices.packs import OFFLINE_PAYLOAD, Record, encode_pack, encode_status
from devices.scenario import Scenario, Vitals, sepsis_scenario, stable_scenario, vitals_at
from devices.scenario_library import Casting
from devices.scenarios_home import MeasuringHabit, check_times

__all__ = [
    "NO_ARTEFACTS",
    "REALISTIC_ARTEFACTS",
    "Artefacts",
    "Cadence",
    "Casting",
    "DeliveryStats",
    "DeviceClients",
    "OutgoingMessage",
    "Publisher",
    "UnitSimulator",
    "make_bench_packs",
    "run_simulator",
    "vitals_at",
]

logger = logging.getLogger(__name__)

# Stable patients: varied, NEWS2 0-2, each value a few noise SDs from the next band edge, so the deteriorating
# bed stands out the way it would on a real ward.
_BED_BASELINES = (
    Vitals(72, 14, 97, 132, 78, 36.8),
    Vitals(86, 17, 96, 146, 84, 37.2),
    Vitals(78, 16, 97, 124, 76, 37.0),
    Vitals(64, 15, 98, 118, 70, 36.6),
    Vitals(93, 17, 97, 122, 70, 37.4),
    Vitals(80, 16, 96, 128, 74, 36.9),
)
# Home patients in DemoUnit order; the first has COPD with hypercapnic failure on home oxygen (SpO2 scale 2).
_HOME_BASELINES = (
    Vitals(92, 20, 89, 138, 82, 36.9, on_oxygen=True),
    Vitals(76, 14, 98, 126, 80, 36.7),
    Vitals(84, 13, 97, 118, 72, 36.8),
    Vitals(70, 16, 95, 150, 88, 36.5),
)
_FIRMWARE = {"monitor": "5.2.1", "chart": "2024.11", "kit": "2.0.7"}
_QOS = 1  # devices publish at QoS 1 like the ingest expects: the broker acknowledges each pack
# At stop, messages still waiting for a subscriber (and the goodbye statuses) get this long before they are given up.
STOP_GRACE_S = 5.0


@dataclass(frozen=True, slots=True)
class Cadence:
    """How often each kind of message goes out, in real seconds (home checks are divided by `speed`)."""

    bp_interval_s: float = 300.0  # NIBP cuff cycle; 5 min is what a ward sets for a patient who worries them
    temperature_interval_s: float = 600.0  # a probe or patch reports now and then, not every second
    status_interval_s: float = 60.0  # battery and signal; the retained message is also what a new subscriber sees
    nurse_round_s: float = 900.0  # the nurse re-charts ACVPU and oxygen on each round (and at once on a change)
    home_checks_per_day: float = 3.0  # morning, afternoon, evening spot checks
    home_stagger_s: float = 5.0  # first checks a few seconds apart, so the demo's home rows fill in one by one


_ERROR_CODE_SPO2 = 127.0


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    topic: str
    payload: bytes
    retain: bool = False


@runtime_checkable
class Publisher(Protocol):
    """What MqttClient offers; anything with this method can carry the simulator's messages."""

    def publish_nowait(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None: ...


@dataclass(slots=True)
class _Device:
    device_id: str
    site_id: str
    firmware: str
    battery_start_percent: float
    battery_drain_per_h: float
    next_status_at: datetime


@dataclass(slots=True)
class _BedState:
    bed: DemoBed
    scenario: Scenario
    next_bp_at: datetime
    next_temperature_at: datetime
    next_round_at: datetime
    charted: tuple[Consciousness, bool] | None = None
    artefacts: ArtefactRun = field(default_factory=ArtefactRun)


@dataclass(slots=True)
class _HomeState:
    home: DemoHomePatient
    scenario: Scenario
    next_check_at: datetime | None  # None: she measures no more
    habit: MeasuringHabit | None = None


@dataclass(slots=True)
class UnitSimulator:
    """The whole unit's message schedule. Call `step(now)` about once a second; it returns what is due."""

    unit: DemoUnit
    topic_root: str
    started_at: datetime
    speed: float = 1.0
    seed: int | None = None
    cadence: Cadence = field(default_factory=Cadence)
    artefacts: Artefacts = field(default_factory=Artefacts)
    deteriorating: Scenario = field(default_factory=sepsis_scenario)
    # Patient id -> scenario, bedside or at home (devices/scenario_library.py; bench/bench_fatigue.py: a COPD bed).
    scenarios: Mapping[str, Scenario] = field(default_factory=dict)
    # Home patient id -> when she measures (at her plan's times, until she stops); others on the cadence.
    habits: Mapping[str, MeasuringHabit] = field(default_factory=dict)
    # Scenario time at `started_at`: a test starts a minutes-long scenario a little before what it is about.
    start_s: float = 0.0
    _rng: random.Random = field(init=False)
    _beds: list[_BedState] = field(init=False)
    _homes: list[_HomeState] = field(init=False)
    _devices: list[_Device] = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        start = self.started_at
        self._beds = [
            _BedState(
                bed=bed,
                scenario=self._bed_scenario(bed, index),
                next_bp_at=start,
                next_temperature_at=start,
                next_round_at=start + timedelta(seconds=self.cadence.nurse_round_s * (index + 1) / len(self.unit.beds)),
            )
            for index, bed in enumerate(self.unit.beds)
        ]
        self._homes = [self._home_state(home, index) for index, home in enumerate(self.unit.home_patients)]
        self._devices = self._build_devices()

    def step(self, now: datetime) -> list[OutgoingMessage]:
        """Everything due at `now`: one pack per bed, charting, home checks and status reports."""
        elapsed_s = (now - self.started_at).total_seconds()
        out: list[OutgoingMessage] = []
        for bed in self._beds:
            vitals = vitals_at(bed.scenario, self.start_s + elapsed_s, self._rng)
            out.append(self._bedside_pack(bed, vitals, now))
            chart = self._chart_pack(bed, vitals, now)
            if chart is not None:
                out.append(chart)
        for home in self._homes:
            if home.next_check_at is not None and now >= home.next_check_at:
                out.append(self._home_pack(home, self.start_s + elapsed_s * self.speed, now))
                home.next_check_at = self._next_check(home, now)
        for device in self._devices:
            if now >= device.next_status_at:
                out.append(self._status(device, now))
                device.next_status_at = now + timedelta(seconds=self.cadence.status_interval_s)
        return out

    def goodbye(self) -> list[OutgoingMessage]:
        """What devices publish when switched off cleanly: the same retained offline status as their Last Will."""
        return [
            OutgoingMessage(status_topic(self.topic_root, d.site_id, d.device_id), OFFLINE_PAYLOAD, retain=True)
            for d in self._devices
        ]

    def _home_state(self, home: DemoHomePatient, index: int) -> _HomeState:
        baseline = stable_scenario(_HOME_BASELINES[index % len(_HOME_BASELINES)])
        state = _HomeState(home, self.scenarios.get(home.patient_id, baseline), None, self.habits.get(home.patient_id))
        if state.habit is None:
            state.next_check_at = self.started_at + timedelta(seconds=self.cadence.home_stagger_s * index)
        else:
            state.next_check_at = self._next_check(state, self.started_at - timedelta(microseconds=1))
        return state

    def _next_check(self, home: _HomeState, after: datetime) -> datetime | None:
        """The spot check after `after`: on her habit's times (the home clock is then the wall clock), else on the
        cadence, `speed` times faster."""
        if home.habit is None:
            return after + timedelta(seconds=86_400 / self.cadence.home_checks_per_day / self.speed)
        start = after + timedelta(microseconds=1)
        upcoming = check_times(home.habit, start=start, until=start + timedelta(days=8))
        return upcoming[0] if upcoming else None

    def _bed_scenario(self, bed: DemoBed, index: int) -> Scenario:
        if bed.patient_id in self.scenarios:
            return self.scenarios[bed.patient_id]
        if bed.patient_id == self.unit.deteriorating_patient_id:
            return self.deteriorating
        return stable_scenario(_BED_BASELINES[index % len(_BED_BASELINES)])

    def _build_devices(self) -> list[_Device]:
        devices: list[_Device] = []
        stagger_s = self.cadence.status_interval_s / max(1, len(self.unit.device_ids))

        def add(device_id: str, site_id: str, firmware: str, battery: float, drain: float) -> None:
            at = self.started_at + timedelta(seconds=stagger_s * len(devices))
            devices.append(_Device(device_id, site_id, firmware, battery, drain, at))

        for bed in self.unit.beds:
            # Monitors run on mains with a backup battery; charting tablets drain over a shift.
            add(bed.monitor_id, self.unit.site_id, _FIRMWARE["monitor"], 100.0 - self._rng.uniform(0, 8), 0.5)
            if bed.chart_id is not None:
                add(bed.chart_id, self.unit.site_id, _FIRMWARE["chart"], self._rng.uniform(60, 95), 3.0)
        for index, home in enumerate(self.unit.home_patients):
            assert self.unit.home_site_id is not None
            # The last kit is nearly flat, so a long demo shows a battery alert (~12 min at 2 %/h from 15.4 %).
            last = index == len(self.unit.home_patients) - 1
            battery = 15.4 if last else self._rng.uniform(55, 90)
            add(home.kit_id, self.unit.home_site_id, _FIRMWARE["kit"], battery, 2.0)
        return devices

    def _bedside_pack(self, bed: _BedState, vitals: Vitals, now: datetime) -> OutgoingMessage:
        rng, artefacts = self._rng, self.artefacts
        pulse_bpm, spo2_percent = with_artefacts(
            bed.artefacts, vitals.heart_rate_bpm, vitals.spo2_percent, now=now, rng=rng, chances=artefacts
        )
        records = [Record(Parameter.PULSE, pulse_bpm), Record(Parameter.RESP_RATE, vitals.resp_rate_per_min)]
        if rng.random() < artefacts.out_of_range:
            records.append(Record(Parameter.SPO2, _ERROR_CODE_SPO2))
        elif rng.random() >= artefacts.spo2_dropout:
            records.append(Record(Parameter.SPO2, spo2_percent))
        if now >= bed.next_bp_at:
            records += [
                Record(Parameter.SYSTOLIC_BP, vitals.systolic_bp_mmhg),
                Record(Parameter.DIASTOLIC_BP, vitals.diastolic_bp_mmhg),
            ]
            bed.next_bp_at = now + timedelta(seconds=self.cadence.bp_interval_s)
        if now >= bed.next_temperature_at:
            records.append(Record(Parameter.TEMPERATURE, vitals.temperature_c))
            bed.next_temperature_at = now + timedelta(seconds=self.cadence.temperature_interval_s)
        return OutgoingMessage(
            obs_topic(self.topic_root, self.unit.site_id, bed.bed.monitor_id), encode_pack(records, at=now)
        )

    def _chart_pack(self, bed: _BedState, vitals: Vitals, now: datetime) -> OutgoingMessage | None:
        """The nurse charts ACVPU and oxygen on admission, on every round, and as soon as either changes."""
        charted = (vitals.consciousness, vitals.on_oxygen)
        if bed.bed.chart_id is None or (charted == bed.charted and now < bed.next_round_at):
            return None
        bed.charted = charted
        bed.next_round_at = now + timedelta(seconds=self.cadence.nurse_round_s)
        records = [
            Record(Parameter.CONSCIOUSNESS, vitals.consciousness),
            Record(Parameter.SUPPLEMENTAL_O2, vitals.on_oxygen),
        ]
        return OutgoingMessage(
            obs_topic(self.topic_root, self.unit.site_id, bed.bed.chart_id), encode_pack(records, at=now)
        )

    def _home_pack(self, home: _HomeState, t_s: float, now: datetime) -> OutgoingMessage:
        """A spot check takes a couple of minutes: oximeter first, then breaths counted, cuff, thermometer.

        No ACVPU: nobody at home can chart it, so a home patient's NEWS2 is shown as incomplete (a lower bound).
        """
        vitals = vitals_at(home.scenario, t_s, self._rng)
        records = [
            Record(Parameter.SPO2, vitals.spo2_percent),
            Record(Parameter.PULSE, vitals.heart_rate_bpm),
            Record(Parameter.RESP_RATE, vitals.resp_rate_per_min, offset_s=30.0),
            Record(Parameter.SYSTOLIC_BP, vitals.systolic_bp_mmhg, offset_s=60.0),
            Record(Parameter.DIASTOLIC_BP, vitals.diastolic_bp_mmhg, offset_s=60.0),
            Record(Parameter.TEMPERATURE, vitals.temperature_c, offset_s=90.0),
            Record(Parameter.SUPPLEMENTAL_O2, vitals.on_oxygen, offset_s=90.0),  # "are you using your oxygen?"
        ]
        assert self.unit.home_site_id is not None
        pack = encode_pack(records, at=now - timedelta(seconds=90))  # the last measurement is taken now
        return OutgoingMessage(obs_topic(self.topic_root, self.unit.home_site_id, home.home.kit_id), pack)

    def _status(self, device: _Device, now: datetime) -> OutgoingMessage:
        hours = (now - self.started_at).total_seconds() / 3600
        battery = max(0.0, device.battery_start_percent - device.battery_drain_per_h * hours)
        signal = round(-62.0 + self._rng.gauss(0.0, 4.0))
        payload = encode_status(
            online=True, battery_percent=battery, signal_dbm=max(-120.0, min(-30.0, signal)), firmware=device.firmware,
            at=now,
        )  # fmt: skip
        return OutgoingMessage(status_topic(self.topic_root, device.site_id, device.device_id), payload, retain=True)


PublishFn = Callable[[str, bytes, bool], None]


async def run_simulator(
    publisher: DeliveringPublisher | Publisher | PublishFn,
    unit: DemoUnit,
    *,
    topic_root: str,
    speed: float,
    clock: Clock,
    stop: asyncio.Event,
    seed: int | None = None,
    tick_s: float = 1.0,
    cadence: Cadence | None = None,
    delivered: Callable[[str, bytes], None] | None = None,
    casting: Casting | None = None,
    start_s: float = 0.0,
) -> DeliveryStats:
    """Publish the unit's messages every `tick_s` until `stop` is set, then each device's offline status.

    `publisher` is an MqttClient (or DeviceClients): then each message is sent as a device must (devices/delivery.py:
    again until the broker says a subscriber has it; `delivered(topic, payload)` is called for each that arrived).
    A function (topic, payload, retain) is called once per message. Packs carry `clock()` as their time; the
    bedside scenario runs in real time, home checks `speed` times faster. `casting`: who plays which scenario
    (devices/scenario_library.py; default: the demo's sepsis bed); `start_s`: scenario time at the start.
    """
    courier = Courier(publisher, delivered=delivered) if isinstance(publisher, DeliveringPublisher) else None
    publish = _publish_fn(publisher, courier)
    cast = casting or Casting()
    simulator = UnitSimulator(
        unit, topic_root, started_at=clock(), speed=speed, seed=seed, cadence=cadence or Cadence(),
        scenarios=cast.scenarios, habits=cast.habits, start_s=start_s,
    )  # fmt: skip
    tick = 0
    logger.info("Simulating %d beds and %d home patients on %s", len(unit.beds), len(unit.home_patients), topic_root)
    try:
        tick = await _tick_until_stopped(simulator, publish, clock=clock, stop=stop, tick_s=tick_s)
    finally:
        for message in simulator.goodbye():
            publish(message.topic, message.payload, message.retain)
        if courier is not None:
            await courier.close(grace_s=STOP_GRACE_S)
        logger.info("Simulator stopped after %d ticks", tick)
    return courier.stats if courier is not None else DeliveryStats()


async def _tick_until_stopped(
    simulator: UnitSimulator, publish: PublishFn, *, clock: Clock, stop: asyncio.Event, tick_s: float
) -> int:
    loop = asyncio.get_running_loop()
    started = loop.time()
    tick = 0
    while not stop.is_set():
        for message in simulator.step(clock()):
            publish(message.topic, message.payload, message.retain)
        tick += 1
        delay_s = started + tick * tick_s - loop.time()
        if delay_s > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay_s):
                    await stop.wait()
    return tick


def _publish_fn(publisher: DeliveringPublisher | Publisher | PublishFn, courier: Courier | None) -> PublishFn:
    if courier is not None:

        def deliver(topic: str, payload: bytes, retain: bool) -> None:
            courier.send(topic, payload, retain=retain)

        return deliver
    if not isinstance(publisher, Publisher):
        assert not isinstance(publisher, DeliveringPublisher)
        return publisher
    client = publisher

    def publish(topic: str, payload: bytes, retain: bool) -> None:
        client.publish_nowait(topic, payload, qos=_QOS, retain=retain)

    return publish


def make_bench_packs(
    n_beds: int, *, seconds: int, start_at: datetime, topic_root: str, site_id: str = "bench", seed: int = 0
) -> Iterator[tuple[str, bytes]]:
    """(topic, SenML pack) for `n_beds` monitors (ids of `bench_unit`) × `seconds`, one pack a second each, in time
    order. Each pack has 5 readings (pulse, RR, SpO2, systolic BP, temperature), all valid; no artefacts."""
    rng = random.Random(seed)
    unit = bench_unit(n_beds, site_id=site_id)
    scenarios = [stable_scenario(_BED_BASELINES[i % len(_BED_BASELINES)]) for i in range(n_beds)]
    topics = [obs_topic(topic_root, site_id, bed.monitor_id) for bed in unit.beds]
    for second in range(seconds):
        at = start_at + timedelta(seconds=second)
        for topic, scenario in zip(topics, scenarios, strict=True):
            v = vitals_at(scenario, float(second), rng)
            records = [
                Record(Parameter.PULSE, v.heart_rate_bpm),
                Record(Parameter.RESP_RATE, v.resp_rate_per_min),
                Record(Parameter.SPO2, v.spo2_percent),
                Record(Parameter.SYSTOLIC_BP, v.systolic_bp_mmhg),
                Record(Parameter.TEMPERATURE, v.temperature_c),
            ]
            yield topic, encode_pack(records, at=at)
