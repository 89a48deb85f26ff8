"""A worklist item escalated after its patient moved: the alert is raised in the ward the patient lies in now, and
the pages of that ward's site are told (the alert is published under that site, not the item's programme), as is
its resolution when the programme closes the item."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from core.homecare import WorklistItem
from core.mqtt import MqttClient
from core.store.sqlite import SqliteStore
from core.topics import events_filter, events_topic
from core.types import Role
from tests.dashboard_api.conftest import TokenFactory, auth
from tests.dashboard_api.test_routes_homecare_item_programme import kari_admitted_elsewhere  # noqa: F401 (a fixture)

INBOX_TIMEOUT_S = 10


async def _next_event(observer: MqttClient) -> tuple[str, dict[str, object]]:
    async with asyncio.timeout(INBOX_TIMEOUT_S):
        message = await observer.inbox.get()
    return message.topic, json.loads(message.payload)


@pytest.mark.integration
async def test_an_item_escalated_after_its_patient_moved_is_announced_under_the_site_of_the_ward_she_lies_in(
    kari_admitted_elsewhere: WorklistItem,  # noqa: F811
    live_api: httpx.AsyncClient,
    token: TokenFactory,
    store: SqliteStore,
    observer: MqttClient,
    topic_root: str,
) -> None:
    observer.subscribe(events_filter(topic_root), 1)
    await observer.connect()
    s1_coordinator = auth(token(Role.COORDINATOR, sites=("s1",), user="nurse-kari"))
    path = f"/api/v1/worklist/{kari_admitted_elsewhere.item_id}"

    escalated = await live_api.post(f"{path}/escalate", json={"reason": "Svarer ikke"}, headers=s1_coordinator)
    raised_topic, raised = await _next_event(observer)
    closed = await live_api.post(
        f"{path}/close", json={"outcome": "admitted", "comment": "KAD"}, headers=s1_coordinator
    )
    resolved_topic, resolved = await _next_event(observer)

    assert (escalated.status_code, closed.status_code) == (200, 200)
    alert = await store.get_alert(escalated.json()["alert_id"])
    assert (alert.patient_id, alert.ward_id) == ("p2", "w2")  # Kari's bed b21 on ward w2 of site s2
    assert raised_topic == events_topic(topic_root, "s2", "w2", "alert")
    assert (raised["site_id"], raised["ward_id"], raised["alert_id"], raised["state"]) == (
        "s2", "w2", alert.alert_id, "open"
    )  # fmt: skip
    assert resolved_topic == events_topic(topic_root, "s2", "w2", "alert")
    assert (resolved["site_id"], resolved["alert_id"], resolved["state"]) == ("s2", alert.alert_id, "resolved")
