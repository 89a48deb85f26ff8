"""A patient's details, vitals, scores and history; manual charting and the SpO2 scale (these through Mosquitto)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import httpx
import pytest

from core.mqtt import MqttClient
from core.store.sqlite import SqliteStore
from core.topics import events_topic, rescore_topic
from core.types import AlertState, Parameter, Role, SpO2Scale
from tests.dashboard_api.conftest import NOW, FixedClock, Seeded, TokenFactory, auth, build_app

INBOX_TIMEOUT_S = 10


async def test_patient_details_with_stay_care_team_and_scale(
    api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore
) -> None:
    response = await api.get("/api/v1/patients/p1", headers=auth(token(Role.DOCTOR, user="dr-berg")))
    assert response.status_code == 200
    body = response.json()
    assert (body["patient_id"], body["display_name"], body["birth_year"]) == ("p1", "Ola Nordmann", 1941)
    assert body["stay"]["bed_id"] == "b1" and body["stay"]["ward_id"] == "w1" and body["stay"]["end_at"] is None
    assert [(m["member_id"], m["role"]) for m in body["care_team"]] == [("dr-berg", "supervising_doctor")]
    assert body["spo2_scale"] is None
    [entry] = await store.list_audit(limit=5)
    assert (entry.at, entry.user_id, entry.role, entry.action, entry.subject) == (
        NOW,
        "dr-berg",
        Role.DOCTOR,
        "read.patient",
        "p1",
    )


async def test_a_patient_without_a_current_stay_is_404(api: httpx.AsyncClient, token: TokenFactory) -> None:
    response = await api.get("/api/v1/patients/nobody", headers=auth(token()))
    assert response.status_code == 404
    assert response.json() == {"detail": "Patient nobody has no current stay"}


async def test_another_sites_patient_is_not_found_and_the_attempt_audited(
    api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore
) -> None:
    response = await api.get("/api/v1/patients/p3/vitals", headers=auth(token()))
    assert (response.status_code, response.json()) == (
        404,
        {"detail": "Patient p3 has no current stay"},
    )  # as for an unknown id
    [entry] = await store.list_audit(limit=5)
    assert (entry.action, entry.subject, entry.detail) == ("denied.read.vitals", "p3", "site s2")


async def test_latest_vitals_with_their_age(api: httpx.AsyncClient, token: TokenFactory, clock: FixedClock) -> None:
    clock.advance(60)
    response = await api.get("/api/v1/patients/p1/vitals", headers=auth(token()))
    assert response.status_code == 200
    body = response.json()
    assert body["at"] == "2025-01-15T08:01:00Z"
    assert {v["parameter"]: v["age_s"] for v in body["values"]} == {"pulse": 90.0, "spo2": 90.0, "resp_rate": 7290.0}


async def test_current_news2_and_ml_risk(api: httpx.AsyncClient, token: TokenFactory) -> None:
    response = await api.get("/api/v1/patients/p1/scores", headers=auth(token(Role.SPECIALIST, user="spec-lund")))
    assert response.status_code == 200
    body = response.json()
    assert body["news2"]["total"] == 5
    assert body["news2"]["parameter_scores"] == {"pulse": 2, "spo2": 1, "resp_rate": 2}
    assert body["risk"] == {
        "probability": 0.42,
        "level": "raised",
        "reasons": ["rising pulse"],
        "model_version": "test-1",
        "computed_at": "2025-01-15T07:59:30Z",
    }
    empty = await api.get("/api/v1/patients/p2/scores", headers=auth(token()))
    assert empty.json() == {"patient_id": "p2", "news2": None, "risk": None}


async def test_observation_history_is_bounded_filtered_and_oldest_first(
    api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore
) -> None:
    headers = auth(token())
    response = await api.get("/api/v1/patients/p1/observations", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["readings"][0]["parameter"] == "resp_rate"  # two hours old: first
    assert len(body["readings"]) == 3 and body["truncated"] is False
    only_pulse = await api.get(
        "/api/v1/patients/p1/observations", params={"parameter": "pulse", "limit": 1}, headers=headers
    )
    assert [(r["parameter"], r["value"]) for r in only_pulse.json()["readings"]] == [("pulse", 112.0)]
    truncated = await api.get("/api/v1/patients/p1/observations", params={"limit": 2}, headers=headers)
    assert len(truncated.json()["readings"]) == 2 and truncated.json()["truncated"] is True
    too_long = await api.get(
        "/api/v1/patients/p1/observations",
        params={"since": "2024-01-01T00:00:00Z", "until": "2025-01-15T08:00:00Z"},
        headers=headers,
    )
    assert too_long.status_code == 422
    assert too_long.json() == {"detail": "since must be before until and at most 31 days before it"}
    actions = [a.action for a in await store.list_audit(limit=10)]
    assert actions == ["read.observations"] * 3


async def test_manual_entry_body_is_validated(api: httpx.AsyncClient, token: TokenFactory) -> None:
    headers = auth(token())
    empty = await api.post("/api/v1/patients/p1/observations", json={}, headers=headers)
    assert empty.status_code == 422
    assert "chart at least one of consciousness or supplemental_o2" in empty.json()["detail"][0]["msg"]
    extra = await api.post(
        "/api/v1/patients/p1/observations", json={"consciousness": "A", "pulse": 80}, headers=headers
    )
    assert extra.status_code == 422 and extra.json()["detail"][0]["type"] == "extra_forbidden"
    letter = await api.post("/api/v1/patients/p1/observations", json={"consciousness": "X"}, headers=headers)
    assert letter.status_code == 422
    future = await api.post(
        "/api/v1/patients/p1/observations",
        json={"consciousness": "A", "measured_at": (NOW + timedelta(hours=1)).isoformat()},
        headers=headers,
    )
    assert future.status_code == 422
    assert future.json() == {"detail": "measured_at must be within the last 24 hours and not in the future"}


# --- routes that publish: through a real Mosquitto ---------------------------------------------------------------


async def _listen(observer: MqttClient, topic: str) -> None:
    observer.subscribe(topic, 1)
    await observer.connect()


async def _next_payload(observer: MqttClient) -> tuple[str, dict[str, object]]:
    async with asyncio.timeout(INBOX_TIMEOUT_S):
        message = await observer.inbox.get()
    return message.topic, json.loads(message.payload)


@pytest.mark.integration
async def test_nurse_charts_acvpu_and_oxygen_and_ingest_is_asked_to_rescore(
    live_api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore, observer: MqttClient, topic_root: str
) -> None:
    await _listen(observer, rescore_topic(topic_root))
    response = await live_api.post(
        "/api/v1/patients/p1/observations",
        json={"consciousness": "C", "supplemental_o2": True},
        headers=auth(token(Role.NURSE)),
    )
    assert response.status_code == 201
    body = response.json()
    assert body["stored"] == 2 and body["rescore_requested"] is True
    assert [(r["parameter"], r["value"], r["device_id"]) for r in body["readings"]] == [
        ("consciousness", 1.0, "manual:nurse-anne"),
        ("supplemental_o2", 1.0, "manual:nurse-anne"),
    ]
    assert await _next_payload(observer) == (rescore_topic(topic_root), {"patient_ids": ["p1"]})
    latest = (await store.latest_values(["p1"]))["p1"]
    assert latest[Parameter.CONSCIOUSNESS].value == 1.0 and latest[Parameter.SUPPLEMENTAL_O2].measured_at == NOW
    assert [a.action for a in await store.list_audit(limit=5)] == ["write.observation"]
    again = await live_api.post(
        "/api/v1/patients/p1/observations", json={"consciousness": "C"}, headers=auth(token(Role.NURSE))
    )
    assert again.status_code == 409
    assert again.json() == {"detail": "You already charted this at 2025-01-15T08:00:00+00:00"}
    audit = [(a.action, a.patient_id, a.grant, a.detail) for a in await store.list_audit(limit=5)]
    assert audit == [  # newest first: the second charting wrote nothing and is audited as refused
        ("denied.write.observation", "p1", "", "You already charted this at 2025-01-15T08:00:00+00:00"),
        ("write.observation", "p1", "site:s1", ""),
    ]


@pytest.mark.integration
async def test_doctor_sets_spo2_scale_2_with_who_and_when(
    live_api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore, observer: MqttClient, topic_root: str
) -> None:
    await _listen(observer, rescore_topic(topic_root))
    response = await live_api.put(
        "/api/v1/patients/p1/spo2-scale", json={"scale": 2}, headers=auth(token(Role.DOCTOR, user="dr-berg"))
    )
    assert response.status_code == 200
    assert response.json() == {"scale": 2, "set_by": "dr-berg", "set_at": "2025-01-15T08:00:00Z"}
    decision = await store.get_spo2_scale("p1")
    assert decision is not None and (decision.scale, decision.set_by, decision.set_at) == (
        SpO2Scale.SCALE_2,
        "dr-berg",
        NOW,
    )
    assert await _next_payload(observer) == (rescore_topic(topic_root), {"patient_ids": ["p1"]})
    assert [(a.action, a.subject) for a in await store.list_audit(limit=5)] == [("write.spo2_scale", "p1")]


@pytest.mark.integration
async def test_acknowledging_stores_who_announces_it_and_a_second_ack_is_409(
    live_api: httpx.AsyncClient,
    token: TokenFactory,
    store: SqliteStore,
    seeded: Seeded,
    observer: MqttClient,
    topic_root: str,
) -> None:
    topic = events_topic(topic_root, "s1", "w1", "alert")
    await _listen(observer, topic)
    path = f"/api/v1/alerts/{seeded.alert_id}/ack"
    response = await live_api.post(path, headers=auth(token(Role.NURSE)))
    assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["acknowledged_by"], body["acknowledged_at"]) == (
        "acknowledged",
        "nurse-anne",
        "2025-01-15T08:00:00Z",
    )
    stored = await store.get_alert(seeded.alert_id)
    assert (stored.state, stored.acknowledged_by) == (AlertState.ACKNOWLEDGED, "nurse-anne")
    event_topic, event = await _next_payload(observer)
    assert event_topic == topic
    assert (event["type"], event["alert_id"], event["state"]) == ("alert", seeded.alert_id, "acknowledged")
    second = await live_api.post(path, headers=auth(token(Role.DOCTOR, user="dr-berg")))
    assert second.status_code == 409
    assert second.json() == {"detail": f"Alert {seeded.alert_id} is already acknowledged by nurse-anne"}
    assert [(a.user_id, a.action, a.subject) for a in await store.list_audit(limit=5)] == [
        ("dr-berg", "denied.ack.alert", str(seeded.alert_id)),  # the refusal, naming the alert (docs/ACCESS.md)
        ("nurse-anne", "ack.alert", str(seeded.alert_id)),
    ]


@pytest.mark.integration
async def test_charting_is_stored_even_when_the_broker_is_gone(
    store: SqliteStore,
    seeded: Seeded,
    clock: FixedClock,
    topic_root: str,
    broker_client: MqttClient,
    token: TokenFactory,
) -> None:
    await broker_client.connect()
    await broker_client.disconnect()  # the API node has lost its broker
    app = build_app(store, broker_client, topic_root=topic_root, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://vaktrom.test") as client:
        response = await client.post(
            "/api/v1/patients/p1/observations", json={"supplemental_o2": False}, headers=auth(token())
        )
    assert response.status_code == 201
    assert (response.json()["stored"], response.json()["rescore_requested"]) == (1, False)
    latest = (await store.latest_values(["p1"]))["p1"]
    assert latest[Parameter.SUPPLEMENTAL_O2].value == 0.0


@pytest.mark.integration
async def test_resolving_by_hand_needs_a_reason_and_is_in_the_history(
    live_api: httpx.AsyncClient, token: TokenFactory, seeded: Seeded, store: SqliteStore
) -> None:
    path = f"/api/v1/alerts/{seeded.alert_id}"
    no_reason = await live_api.post(f"{path}/resolve", json={"reason": ""}, headers=auth(token()))
    assert no_reason.status_code == 422
    assert (await store.get_alert(seeded.alert_id)).state is AlertState.OPEN

    resolved = await live_api.post(f"{path}/resolve", json={"reason": "probe off the finger"}, headers=auth(token()))
    again = await live_api.post(f"{path}/resolve", json={"reason": "twice"}, headers=auth(token()))
    ack = await live_api.post(f"{path}/ack", headers=auth(token()))
    history = await live_api.get(f"{path}/history", headers=auth(token()))

    assert resolved.status_code == 200
    body = resolved.json()
    assert (body["state"], body["resolved_by"], body["resolve_reason"]) == (
        "resolved",
        "nurse-anne",
        "probe off the finger",
    )
    assert again.status_code == 409 and ack.status_code == 409
    assert again.json() == {"detail": f"Alert {seeded.alert_id} is already resolved by nurse-anne"}
    assert [(h["phase"], h["by"], h["reason"]) for h in history.json()] == [
        ("opened", "vaktrom", ""),
        ("resolved", "nurse-anne", "probe off the finger"),
    ]
