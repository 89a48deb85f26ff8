"""Must show (issue 12): opioid respiratory depression in a KAD bed, end to end in real time: the simulator publishes
the scenario to a real Mosquitto, a real `vaktrom ingest` process stores and scores it in PostgreSQL, and the
respiratory-depression alert opens within 60 s of the episode criterion (SpO2 <= 85 % or RR <= 5) being met, before
any respiration rate in NEWS2's RR <= 8 band, and pages the unit's nurse and informs the patient's LAR team."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from core.care_flags import CareFlag
from core.clock import utc_now
from core.escalation import DeliveryPurpose
from core.mqtt import MqttClient, MqttOptions
from core.outreach import Team
from core.store import Store
from core.types import Alert, AlertKind, AlertPriority, CareTeamRole, Parameter
from devices.scenario_library import Casting
from devices.scenarios_sud import OPIOID_CRITERION_SPO2_AT_S, opioid_respiratory_depression_scenario
from devices.simulator import run_simulator
from tests.alerts.webhook_receiver import WebhookReceiver
from tests.e2e.scenario_unit import UNIT_NURSE, flag, join_team, on_call, scenario_unit, seed, seeded_since
from tests.fixtures.mosquitto import MosquittoBroker
from tests.fixtures.postgres import PostgresServer
from tests.ingest.conftest import wait_until
from tests.ingest.process import IngestProcess, ingest_env

pytestmark = pytest.mark.integration
logger = logging.getLogger(__name__)

LAR_TEAM = "e2e-lar"
LAR_NURSE = "lar-sykepleier"
# The simulator starts 20 s before the scenario's SpO2 reaches 85 %: the test runs about a minute, and the decline
# before it (SpO2 96 % -> 87 %) is what the scenario's table tests cover.
START_S = OPIOID_CRITERION_SPO2_AT_S - 20
SEED = 12  # the noise is drawn from this seed: the run is the same every time, up to when each tick falls
WITHIN_S = 60.0  # the issue: within 60 s of the episode criterion being met


async def _respiratory_alert(store: Store, patient_id: str) -> Alert | None:
    found = await store.list_alerts(patient_ids=[patient_id], kinds=[AlertKind.RESPIRATORY_DEPRESSION])
    return found[0] if found else None


def _about(receiver: WebhookReceiver, alert_id: int) -> list[dict[str, Any]]:
    """The messages the gateway got about this alert (the NEWS2 alert of the same fall pages the nurse too)."""
    bodies = [orjson.loads(r.body) for r in receiver.requests]
    return [b for b in bodies if b["alert"]["alert_id"] == alert_id]


@pytest.mark.timeout(180)
async def test_opioid_patient_in_a_kad_bed_gets_the_respiratory_alert_before_news2_sees_a_low_rate(
    pg_store: Store,
    postgres_dsn: str,
    postgres_server: PostgresServer,
    mosquitto: MosquittoBroker,
    unique_topic_root: str,
    receiver: WebhookReceiver,
    tmp_path: Path,
) -> None:
    unit = scenario_unit(beds=1)
    patient = unit.beds[0].patient_id
    since = seeded_since(utc_now())
    await seed(pg_store, unit, since=since)
    await flag(pg_store, patient, CareFlag.OPIOID_AGONIST_TREATMENT, at=since)
    await pg_store.add_team(Team(LAR_TEAM, "LAR e2e", CareTeamRole.LAR_TEAM, "LAR e2e poliklinikk", since))
    await pg_store.add_team_member(LAR_TEAM, LAR_NURSE, at=since)
    await join_team(pg_store, [patient], LAR_TEAM, CareTeamRole.LAR_TEAM, at=since)
    await on_call(pg_store, unit.site_id, url=receiver.url, people=[LAR_TEAM, LAR_NURSE])
    env = ingest_env(
        mosquitto=mosquitto, postgres_server=postgres_server, postgres_dsn=postgres_dsn, topic_root=unique_topic_root,
        data_dir=tmp_path, client_id=f"ingest-opioid-{uuid.uuid4().hex[:8]}",
        VAKTROM_WEBHOOK_ALLOW_LOOPBACK_HTTP="true", VAKTROM_RESPIRATORY_SUSTAIN_S="30",
    )  # fmt: skip
    ingest = IngestProcess(env)
    await ingest.start()
    devices = MqttClient(MqttOptions(url=mosquitto.url(), client_id=f"sim-{uuid.uuid4().hex[:8]}", clean_start=True))
    await devices.connect()
    stop = asyncio.Event()
    casting = Casting({patient: opioid_respiratory_depression_scenario(onset_s=0.0)})
    run = run_simulator(
        devices, unit, topic_root=unique_topic_root, speed=1.0, clock=utc_now, stop=stop, seed=SEED,
        casting=casting, start_s=START_S,
    )  # fmt: skip
    simulator = asyncio.create_task(run)
    try:
        alert = await wait_until(
            lambda: _respiratory_alert(pg_store, patient), what="the respiratory-depression alert", timeout_s=90
        )
        await wait_until(
            lambda: len(_about(receiver, alert.alert_id)) >= 3, what="the nurse paged and the LAR team informed"
        )
    finally:
        stop.set()
        await simulator
        await devices.disconnect()
        await ingest.kill_9()

    assert alert.priority is AlertPriority.HIGH
    assert "SpO2" in alert.message and "on opioid agonist treatment" in alert.message
    readings = await pg_store.readings(
        patient, since=since, until=alert.opened_at + timedelta(seconds=1),
        parameters=[Parameter.SPO2, Parameter.RESP_RATE],
    )  # fmt: skip
    met_at = min(
        r.measured_at
        for r in readings
        if (r.parameter is Parameter.SPO2 and r.value <= 85) or (r.parameter is Parameter.RESP_RATE and r.value <= 5)
    )
    rates = [r.value for r in readings if r.parameter is Parameter.RESP_RATE and r.measured_at <= alert.opened_at]
    gap_s = (alert.opened_at - met_at).total_seconds()
    logger.info("Respiratory alert %.1f s after the criterion was met; lowest rate before it %g/min", gap_s, min(rates))
    assert gap_s <= WITHIN_S
    assert len(rates) >= 20 and min(rates) > 8  # NEWS2 had not reached its RR <= 8 band

    deliveries = await pg_store.list_deliveries(alert.alert_id)
    first_step = {(d.person_id, d.purpose) for d in deliveries if d.step_index == 0}
    assert first_step == {
        (UNIT_NURSE, DeliveryPurpose.RESPOND),
        (LAR_TEAM, DeliveryPurpose.INFORM),  # the team's phone
        (LAR_NURSE, DeliveryPurpose.INFORM),  # and its member
    }
    received = _about(receiver, alert.alert_id)
    assert {(b["recipient"]["person_id"], b["purpose"], b["alert"]["kind"]) for b in received} == {
        (UNIT_NURSE, "respond", "respiratory_depression"),
        (LAR_TEAM, "inform", "respiratory_depression"),
        (LAR_NURSE, "inform", "respiratory_depression"),
    }
    assert all(r.signature_valid for r in receiver.requests)
    assert met_at > datetime.now(UTC) - timedelta(minutes=5)  # the scenario ran now, in real time
