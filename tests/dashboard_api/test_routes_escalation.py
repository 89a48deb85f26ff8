"""An alert's escalation as the page shows it, and a gateway answering a delivery (signed, no token)."""

from __future__ import annotations

import asyncio
from datetime import date, time, timedelta

import httpx
import orjson
import pytest

from alerts.escalation import fire_step
from alerts.webhooks import signature_headers
from core.escalation import ContactPoint, DeliveryState, WebhookEndpoint
from core.mqtt import MqttClient
from core.oncall import OnCallRole, Rotation
from core.store.sqlite import SqliteStore
from core.topics import events_topic
from core.types import AlertKind, AlertSeverity, AlertState, CareTeamMember, CareTeamRole
from tests.dashboard_api.conftest import FixedClock, Seeded, TokenFactory, auth

GATEWAY_SECRET = b"gateway-secret-" + b"k" * 24


async def page_the_nurse(store: SqliteStore, clock: FixedClock, seeded: Seeded) -> str:
    """Roster nurse-kari at s1, reachable on the gateway, and fire the seeded alert's first step: its delivery id."""
    await store.upsert_webhook_endpoint(WebhookEndpoint("gw", "https://pager.example/hook", GATEWAY_SECRET, "gw"))
    nurse = Rotation(0, "Sykepleier", OnCallRole.UNIT_NURSE, frozenset({"s1"}), (time(8),), ("nurse-kari",),
                     date(2025, 1, 1))  # fmt: skip
    await store.add_rotation(nurse)
    await store.set_contact_points("nurse-kari", [ContactPoint("nurse-kari", "gw", "pager-17")])
    now = clock()
    await store.fire_due_escalations(
        now, lambda chain, alert, ctx, facts: fire_step(chain, alert, ctx, at=now, facts=facts)
    )
    [delivery] = await store.list_deliveries(seeded.alert_id)
    return delivery.delivery_id


def signed(delivery_id: str, body: bytes, clock: FixedClock, secret: bytes = GATEWAY_SECRET) -> dict[str, str]:
    return signature_headers(secret, delivery_id=delivery_id, body=body, timestamp_s=int(clock().timestamp()))


async def test_the_page_shows_who_was_notified_and_what_came_of_it(
    api: httpx.AsyncClient, token: TokenFactory, seeded: Seeded, store: SqliteStore, clock: FixedClock
) -> None:
    delivery_id = await page_the_nurse(store, clock, seeded)
    response = await api.get(f"/api/v1/alerts/{seeded.alert_id}/escalation", headers=auth(token()))
    assert response.status_code == 200
    chain = response.json()
    assert (chain["running"], chain["next_step"], chain["policy"]["name"]) == (True, 2, "default medium")
    [delivery] = chain["deliveries"]
    assert (delivery["delivery_id"], delivery["person_id"], delivery["state"]) == (delivery_id, "nurse-kari", "queued")
    assert delivery["reason"] == "unit_nurse on call for s1"
    [entry] = [a for a in await store.list_audit(limit=5) if a.action == "read.alert_escalation"]
    assert entry.detail == "patient p1"


async def test_another_sites_alert_escalation_is_not_shown(
    api: httpx.AsyncClient, token: TokenFactory, seeded: Seeded
) -> None:
    response = await api.get(f"/api/v1/alerts/{seeded.other_alert_id}/escalation", headers=auth(token()))
    assert (response.status_code, response.json()) == (404, {"detail": f"Alert {seeded.other_alert_id} not found"})


@pytest.mark.integration
async def test_a_gateway_accepting_acknowledges_the_alert_for_that_person_on_every_screen(
    live_api: httpx.AsyncClient,
    seeded: Seeded,
    store: SqliteStore,
    clock: FixedClock,
    observer: MqttClient,
    topic_root: str,
) -> None:
    delivery_id = await page_the_nurse(store, clock, seeded)
    heard: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    observer.subscribe(events_topic(topic_root, "s1", "w1", "alert"), 1)
    await observer.connect()
    listening = asyncio.create_task(_collect(observer, heard))
    body = b'{"status": "accepted", "by": "nurse-kari"}'
    response = await live_api.post(
        f"/api/v1/deliveries/{delivery_id}/answer", content=body, headers=signed(delivery_id, body, clock)
    )
    assert response.status_code == 200
    assert (response.json()["state"], response.json()["answered_by"]) == ("accepted", "nurse-kari")
    alert = await store.get_alert(seeded.alert_id)
    assert (alert.state, alert.acknowledged_by) == (AlertState.ACKNOWLEDGED, "nurse-kari")
    chain = await store.get_escalation(seeded.alert_id)
    assert chain is not None and not chain.running
    async with asyncio.timeout(10):
        event = await heard.get()
    listening.cancel()
    assert (event["alert_id"], event["state"], event["phase"]) == (seeded.alert_id, "acknowledged", "acknowledged")
    assert event["acknowledged_by"] == "nurse-kari"


async def _collect(observer: MqttClient, heard: asyncio.Queue[dict[str, object]]) -> None:
    while True:
        message = await observer.inbox.get()
        heard.put_nowait(orjson.loads(message.payload))
        observer.ack(message)


async def test_an_answer_with_a_bad_signature_changes_nothing(
    api: httpx.AsyncClient, seeded: Seeded, store: SqliteStore, clock: FixedClock
) -> None:
    delivery_id = await page_the_nurse(store, clock, seeded)
    body = b'{"status": "declined"}'
    forged = signed(delivery_id, body, clock, secret=b"not-the-gateway-secret-at-all!!")
    response = await api.post(f"/api/v1/deliveries/{delivery_id}/answer", content=body, headers=forged)
    assert response.status_code == 401
    assert "signature does not match" in response.json()["detail"]
    unknown = await api.post("/api/v1/deliveries/nope/answer", content=body, headers=signed("nope", body, clock))
    assert unknown.status_code == 401
    assert unknown.json() == {"detail": "Answer not accepted: unknown delivery or bad signature"}
    [delivery] = await store.list_deliveries(seeded.alert_id)
    assert delivery.state is DeliveryState.QUEUED


async def test_an_answer_signed_for_another_delivery_is_refused(
    api: httpx.AsyncClient, seeded: Seeded, store: SqliteStore, clock: FixedClock
) -> None:
    delivery_id = await page_the_nurse(store, clock, seeded)
    body = b'{"status": "declined"}'
    response = await api.post(
        f"/api/v1/deliveries/{delivery_id}/answer", content=body, headers=signed("other-delivery", body, clock)
    )
    assert response.status_code == 401
    assert "not the one in the path" in response.json()["detail"]


async def test_the_isbar_of_an_alert_reads_as_a_handover_of_the_patient(
    api: httpx.AsyncClient, token: TokenFactory, seeded: Seeded, store: SqliteStore
) -> None:
    response = await api.get(f"/api/v1/alerts/{seeded.alert_id}/isbar", headers=auth(token()))
    assert response.status_code == 200
    isbar = response.json()
    assert isbar["alert_id"] == seeded.alert_id
    assert isbar["identify"].startswith("Ola Nordmann (p1, born 1941), Demo sykestue (sykestue), Sykestua, bed Seng 1.")
    assert isbar["situation"].startswith("NEWS2 5. Opened")
    assert "pulse 112 /min" in isbar["situation"] and "respiration rate 22 /min (2 h ago)" in isbar["situation"]
    assert "supervising doctor dr-berg (Demo kommune)" in isbar["background"]
    assert "NEWS2 at least 5 (incomplete)" in isbar["assessment"] and "missing: temperature" in isbar["assessment"]
    assert "ML deterioration flag raised (rising pulse)" in isbar["assessment"]
    assert isbar["recommendation"].startswith("Urgent response: inform the doctor now")
    assert isbar["text"].split("\n")[0] == "I: " + isbar["identify"]
    [entry] = [a for a in await store.list_audit(limit=5) if a.action == "read.alert_isbar"]
    assert (entry.subject, entry.detail) == (str(seeded.alert_id), "patient p1")


async def test_the_isbar_of_another_sites_alert_is_refused_and_an_unknown_alert_is_404(
    api: httpx.AsyncClient, token: TokenFactory, seeded: Seeded
) -> None:
    other = await api.get(f"/api/v1/alerts/{seeded.other_alert_id}/isbar", headers=auth(token()))
    assert (other.status_code, other.json()) == (404, {"detail": f"Alert {seeded.other_alert_id} not found"})
    unknown = await api.get("/api/v1/alerts/999999/isbar", headers=auth(token()))
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "Alert 999999 not found"})


@pytest.mark.integration
async def test_a_care_team_member_accepting_an_informing_message_does_not_acknowledge_the_alert(
    live_api: httpx.AsyncClient, seeded: Seeded, store: SqliteStore, clock: FixedClock
) -> None:
    api = live_api  # the answer is announced to the pages through the broker
    await page_the_nurse(store, clock, seeded)
    lar = CareTeamMember("p1", "lar-alta", CareTeamRole.LAR_TEAM, "LAR Alta", clock() - timedelta(days=100))
    await store.add_care_team_member(lar)
    await store.set_contact_points("lar-alta", [ContactPoint("lar-alta", "gw", "phone-lar")])
    # NEWS2 rises to 7: a high chain starts and its first step informs the LAR team
    await store.raise_alert(
        patient_id="p1", device_id=None, ward_id="w1", kind=AlertKind.NEWS2, severity=AlertSeverity.HIGH,
        message="NEWS2 7", at=clock(),
    )  # fmt: skip
    now = clock()
    await store.fire_due_escalations(
        now, lambda chain, alert, ctx, facts: fire_step(chain, alert, ctx, at=now, facts=facts)
    )
    [informed] = [d for d in await store.list_deliveries(seeded.alert_id) if d.person_id == "lar-alta"]
    body = b'{"status": "accepted", "by": "lar-alta"}'
    response = await api.post(
        f"/api/v1/deliveries/{informed.delivery_id}/answer",
        content=body,
        headers=signed(informed.delivery_id, body, clock),
    )
    assert (response.status_code, response.json()["state"], response.json()["purpose"]) == (200, "accepted", "inform")
    alert = await store.get_alert(seeded.alert_id)
    assert alert.state is AlertState.OPEN  # the unit's chain goes on: the LAR team is not at the bedside
    chain = await store.get_escalation(seeded.alert_id)
    assert chain is not None and chain.running
