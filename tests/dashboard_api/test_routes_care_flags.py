"""A patient's care flags over REST: a nurse or doctor sets and clears them with a reason, every change is kept and
audited, ingest is asked to re-score (through Mosquitto), a coordinator reads them, other sites get a 404."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from core.care_flags import CareFlag
from core.mqtt import MqttClient
from core.store.sqlite import SqliteStore
from core.topics import rescore_topic
from core.types import Role
from tests.dashboard_api.conftest import TokenFactory, auth

PATH = "/api/v1/patients/p1/care-flags"
OAT = {"flag": "opioid_agonist_treatment", "active": True, "reason": "LAR, metadon 90 mg daglig"}
INBOX_TIMEOUT_S = 10


@pytest.mark.integration
async def test_a_nurse_records_lar_it_is_kept_audited_and_ingest_rescores(
    live_api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore, observer: MqttClient, topic_root: str
) -> None:
    observer.subscribe(rescore_topic(topic_root), 1)
    await observer.connect()

    response = await live_api.put(PATH, json={"changes": [OAT]}, headers=auth(token(Role.NURSE, user="nurse-kari")))

    assert response.status_code == 200
    body = response.json()
    assert body["flags"] == ["opioid_agonist_treatment"]
    assert [(h["flag"], h["active"], h["set_by"]) for h in body["history"]] == [
        ("opioid_agonist_treatment", True, "nurse-kari")
    ]
    assert await store.care_flags(["p1"]) == {"p1": frozenset({CareFlag.OPIOID_AGONIST_TREATMENT})}
    assert ("write.care_flags", "p1") in [(a.action, a.patient_id) for a in await store.list_audit(limit=5)]
    async with asyncio.timeout(INBOX_TIMEOUT_S):
        message = await observer.inbox.get()
    assert json.loads(message.payload) == {"patient_ids": ["p1"]}


@pytest.mark.integration
async def test_a_cleared_flag_is_no_longer_in_force_and_both_changes_are_history(
    live_api: httpx.AsyncClient, token: TokenFactory
) -> None:
    doctor = auth(token(Role.DOCTOR, user="dr-berg"))
    await live_api.put(PATH, json={"changes": [OAT]}, headers=doctor)
    cleared = await live_api.put(
        PATH, json={"changes": [OAT | {"active": False, "reason": "Avsluttet"}]}, headers=doctor
    )

    assert cleared.json()["flags"] == []
    assert [h["active"] for h in cleared.json()["history"]] == [True, False]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"changes": [OAT | {"reason": "x"}]}, "reason"),
        ({"changes": [OAT | {"flag": "cannabis"}]}, "flag"),
        ({"changes": []}, "changes"),
    ],
)
async def test_a_bad_change_is_refused_naming_the_field_and_nothing_is_stored(
    api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore, body: dict[str, object], named: str
) -> None:
    response = await api.put(PATH, json=body, headers=auth(token(Role.NURSE)))

    assert response.status_code == 422 and named in str(response.json()["detail"])
    assert await store.care_flag_history("p1") == []


async def test_a_coordinator_reads_but_may_not_set_and_another_site_sees_nothing(
    api: httpx.AsyncClient, token: TokenFactory
) -> None:
    coordinator = auth(token(Role.COORDINATOR))

    read = await api.get(PATH, headers=coordinator)
    refused = await api.put(PATH, json={"changes": [OAT]}, headers=coordinator)
    elsewhere = await api.get(PATH, headers=auth(token(Role.NURSE, sites=("s2",))))

    assert read.status_code == 200 and read.json()["flags"] == []
    assert refused.status_code == 403
    assert elsewhere.status_code == 404
