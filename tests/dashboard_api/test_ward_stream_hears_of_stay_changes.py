"""An admin's admission, transfer, discharge, enrolment and end of home follow-up reach the live streams of every
ward they touch as a `stay` event: through the admin route, a real Mosquitto, the live hub and the ward socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from core.clock import utc_now
from core.mqtt import Delivery, MqttClient, MqttOptions
from core.settings import Settings
from core.store.sqlite import SqliteStore
from core.topics import events_topic
from core.types import Bed, Patient, Role, Site, SiteKind, Ward
from dashboard_api.auth import issue_token
from tests.dashboard_api.conftest import SECRET, Seeded, Served, auth
from tests.fixtures.mosquitto import AUTH_USERS, MosquittoBroker
from vaktrom.broker_policy import BrokerPolicy, vaktrom_accounts

pytestmark = pytest.mark.integration

RECV_TIMEOUT_S = 10
# Every ward the tests change: the seeded sykestue (s1/w1), another municipality's KAD (s2/w2), a home programme.
WARDS = ("w1", "w2", "w3")
ROOT = "vaktrom/v1"  # the shipped ACL names this root
API = "vaktrom-api-1"


@contextlib.asynccontextmanager
async def watching(served: Served) -> AsyncIterator[ClientConnection]:
    """A specialist's screen on every ward the tests change, past its snapshot."""
    token = issue_token(SECRET, user_id="spec-lund", role=Role.SPECIALIST, site_ids=["s1", "s2", "s3"], ttl_s=600,
                        now=utc_now())  # fmt: skip
    url = f"{served.ws_url}/api/v1/ws/live?wards={','.join(WARDS)}"
    protocols = [Subprotocol("bearer"), Subprotocol(token)]
    async with connect(url, subprotocols=protocols, open_timeout=RECV_TIMEOUT_S) as socket:
        assert (await _receive(socket))["type"] == "snapshot"
        yield socket


async def _receive(socket: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(RECV_TIMEOUT_S):
        message = json.loads(await socket.recv())
    assert isinstance(message, dict)
    return message


async def stay_events(socket: ClientConnection, count: int) -> list[dict[str, Any]]:
    """The next `count` stay events, in order (the alert and escalation deltas a change also makes are skipped),
    without `seq`; each `at` is checked to be a time and then left out."""
    events: list[dict[str, Any]] = []
    while len(events) < count:
        message = await _receive(socket)
        if message["type"] == "stay":
            del message["seq"]
            assert datetime.fromisoformat(message.pop("at")).tzinfo is not None
            events.append(message)
    return events


async def change(served: Served, patient_id: str, action: str, body: dict[str, str] | None = None) -> dict[str, Any]:
    admin = issue_token(SECRET, user_id="admin-eva", role=Role.ADMIN, site_ids=["*"], ttl_s=600, now=utc_now())
    async with httpx.AsyncClient(base_url=served.base_url) as http:
        response = await http.post(f"/api/v1/admin/patients/{patient_id}/{action}", json=body, headers=auth(admin))
    assert response.status_code == 200, response.text
    done = response.json()
    assert isinstance(done, dict)
    return done


def stay(ward: str, bed: str | None, patient: str, what: str, stay_id: str, site: str) -> dict[str, Any]:
    return {"type": "stay", "site_id": site, "ward_id": ward, "bed_id": bed, "patient_id": patient,
            "stay_id": stay_id, "change": what}  # fmt: skip


@pytest.fixture
async def served(live_server: tuple[Served, Seeded], store: SqliteStore) -> Served:
    """The seeded wards, a free bed b22 on w2, patient p4 with no stay, and a home programme's ward w3 (site s3)."""
    await store.upsert_bed(Bed("b22", "w2", "2"))
    await store.upsert_patient(Patient("p4", "Nils Nilsen", 1938))
    await store.upsert_site(Site("s3", "Hjemmeoppfølging", SiteKind.HOME_PROGRAMME))
    await store.upsert_ward(Ward("w3", "s3", "Hjemme"))
    return live_server[0]


async def test_an_admission_is_announced_on_the_ward_of_the_bed(served: Served) -> None:
    async with watching(served) as screen:
        done = await change(served, "p4", "admit", {"bed_id": "b2"})
        events = await stay_events(screen, 1)
    assert events == [stay("w1", "b2", "p4", "admitted", done["started"]["stay_id"], "s1")]


async def test_a_transfer_is_announced_on_the_ward_left_and_the_ward_entered(served: Served) -> None:
    """Ola leaves Seng 1 of the sykestue (w1, site s1) for bed 2 of another municipality's KAD (w2, site s2)."""
    async with watching(served) as screen:
        done = await change(served, "p1", "transfer", {"bed_id": "b22"})
        events = await stay_events(screen, 2)
    assert events == [
        stay("w1", "b1", "p1", "transferred_out", done["ended"]["stay_id"], "s1"),
        stay("w2", "b22", "p1", "transferred_in", done["started"]["stay_id"], "s2"),
    ]


async def test_a_transfer_within_one_ward_is_announced_as_both_beds(served: Served) -> None:
    async with watching(served) as screen:
        done = await change(served, "p1", "transfer", {"bed_id": "b2"})
        events = await stay_events(screen, 2)
    assert events == [
        stay("w1", "b1", "p1", "transferred_out", done["ended"]["stay_id"], "s1"),
        stay("w1", "b2", "p1", "transferred_in", done["started"]["stay_id"], "s1"),
    ]


async def test_a_discharge_is_announced_on_the_ward_of_the_bed(served: Served) -> None:
    async with watching(served) as screen:
        done = await change(served, "p3", "discharge")
        events = await stay_events(screen, 1)
    assert events == [stay("w2", "b21", "p3", "discharged", done["ended"]["stay_id"], "s2")]


async def test_home_follow_up_started_and_ended_is_announced_on_the_programmes_ward(served: Served) -> None:
    async with watching(served) as screen:
        enrolled = await change(served, "p4", "enrol", {"ward_id": "w3"})
        ended = await change(served, "p4", "end-home")
        events = await stay_events(screen, 2)
    stay_id = enrolled["started"]["stay_id"]
    assert ended["ended"]["stay_id"] == stay_id
    assert events == [
        stay("w3", None, "p4", "admitted", stay_id, "s3"),
        stay("w3", None, "p4", "discharged", stay_id, "s3"),
    ]


async def test_the_shipped_broker_acl_lets_an_api_node_publish_stay_events(mosquitto_auth: MosquittoBroker) -> None:
    """Without the grant Mosquitto refuses the publish (0x87, tests/deploy/test_broker_trust.py) and closes the API
    node's connection: every page of the node would resnapshot on every stay change."""
    url = mosquitto_auth.url(username=API, password=AUTH_USERS[API])
    client = MqttClient(MqttOptions(url=url, client_id=API, clean_start=True))
    await client.connect()
    try:
        delivered = await client.publish(events_topic(ROOT, "site-x", "ward-x", "stay"), b"{}")
    finally:
        await client.disconnect()
    assert delivered in (Delivery.ACCEPTED, Delivery.NO_SUBSCRIBERS)


def test_the_embedded_brokers_policy_lets_the_api_node_publish_stay_events(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, mqtt_password=SecretStr("embedded-service-password-for-tests"))
    policy = BrokerPolicy(topic_root=settings.mqtt_topic_root, services=vaktrom_accounts(settings), device_hashes={})
    root, api = settings.mqtt_topic_root, settings.mqtt_api_client_id
    assert policy.may_publish(api, events_topic(root, "s1", "w1", "stay"))
    assert not policy.may_publish(api, events_topic(root, "s1", "w1", "score"))
