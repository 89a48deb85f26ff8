"""Withdrawal assessments over REST: a nurse scores COWS item by item, the history shows totals and bands, a rising
band raises the patient's withdrawal alert (announced through Mosquitto, its chain informing the care team), the
form comes with the items the latest vitals propose, a bad score is refused naming the item, and access is the
patient's site or care team, audited naming the patient."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import httpx
import pytest

from core.mqtt import MqttClient
from core.store.sqlite import SqliteStore
from core.topics import events_topic
from core.types import AlertKind, Parameter, Reading, Role
from core.withdrawal import CowsItem
from tests.dashboard_api.conftest import NOW, FixedClock, TokenFactory, auth

PATH = "/api/v1/patients/p1/withdrawal-assessments"
INBOX_TIMEOUT_S = 10
CALM_COWS = {item.value: 0 for item in CowsItem}


def cows(**scores: int) -> dict[str, object]:
    return {"scale": "cows", "items": CALM_COWS | scores}


@pytest.mark.integration
async def test_a_rising_cows_score_is_recorded_banded_and_raises_a_medium_alert_announced_on_the_broker(
    live_api: httpx.AsyncClient,
    token: TokenFactory,
    store: SqliteStore,
    clock: FixedClock,
    observer: MqttClient,
    topic_root: str,
) -> None:
    observer.subscribe(events_topic(topic_root, "s1", "w1", "alert"), 1)
    await observer.connect()
    nurse = auth(token(Role.NURSE, user="nurse-kari"))

    first = await live_api.post(PATH, json=cows(resting_pulse=2, sweating=2, yawning=4), headers=nurse)
    clock.advance(2 * 3600)
    nurse = auth(token(Role.NURSE, user="nurse-kari"))  # a new shift's token
    second = await live_api.post(
        PATH,
        json=cows(resting_pulse=4, sweating=2, yawning=4, restlessness=3) | {"proposed": ["resting_pulse"]},
        headers=nurse,
    )

    assert first.status_code == 201, first.text
    assert (first.json()["total"], first.json()["band"], first.json()["alert"]) == (8, "mild", None)
    assert second.status_code == 201, second.text
    body = second.json()
    assert (body["total"], body["band"], body["band_rank"], body["assessed_by"]) == (13, "moderate", 2, "nurse-kari")
    assert body["proposed"] == ["resting_pulse"]
    assert {"item": "resting_pulse", "score": 4} in body["items"]
    alert = body["alert"]
    assert (alert["kind"], alert["priority"], alert["state"]) == ("withdrawal_rising", "medium", "open")
    assert "COWS 13 (moderate), up from 8 (mild)" in alert["message"]
    async with asyncio.timeout(INBOX_TIMEOUT_S):
        event = json.loads((await observer.inbox.get()).payload)
    assert (event["alert_id"], event["kind"], event["priority"], event["phase"]) == (
        alert["alert_id"], "withdrawal_rising", "medium", "opened"
    )  # fmt: skip
    chain = await store.get_escalation(alert["alert_id"])
    assert chain is not None and "lar_team" in [t.value for t in chain.policy.steps[0].targets]
    history = (await live_api.get(PATH, headers=nurse)).json()["assessments"]
    assert [(a["total"], a["band"]) for a in history] == [(13, "moderate"), (8, "mild")]
    audited = [(a.action, a.patient_id) for a in await store.list_audit(limit=10)]
    assert ("write.withdrawal_assessment", "p1") in audited and ("read.withdrawal_assessments", "p1") in audited


@pytest.mark.integration
async def test_a_severe_ciwa_ar_score_raises_a_high_alert_at_the_first_assessment(
    live_api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore
) -> None:
    items = {"nausea_vomiting": 4, "tremor": 4, "paroxysmal_sweats": 4, "anxiety": 4, "agitation": 0,
             "tactile_disturbances": 0, "auditory_disturbances": 0, "visual_disturbances": 0, "headache": 0,
             "orientation": 0}  # fmt: skip

    response = await live_api.post(PATH, json={"scale": "ciwa_ar", "items": items}, headers=auth(token(Role.DOCTOR)))

    assert response.status_code == 201
    assert (response.json()["total"], response.json()["band"]) == (16, "severe")
    assert response.json()["alert"]["priority"] == "high"
    (alert,) = await store.list_alerts(patient_ids=["p1"], kinds=[AlertKind.WITHDRAWAL_RISING])
    assert alert.message.startswith("Severe withdrawal: CIWA-Ar 16 (severe)")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (cows(gooseflesh=1), "items.gooseflesh: 1 is not a score of this item; one of 0, 3, 5"),
        (cows(resting_pulse=3), "items.resting_pulse: 3 is not a score of this item; one of 0, 1, 2, 4"),
        ({"scale": "cows", "items": {"resting_pulse": 0}}, "items.sweating: missing"),
        (cows(pupils=0), "items.pupils: not an item of COWS"),
        (cows() | {"proposed": ["headache"]}, "proposed: 'headache' is not an item of COWS"),
        (cows() | {"assessed_at": (NOW + timedelta(minutes=5)).isoformat()}, "assessed_at: within the last 24"),
        (cows() | {"assessed_at": (NOW - timedelta(hours=25)).isoformat()}, "assessed_at: within the last 24"),
        (cows(tremor=9), '"items", "tremor"], "msg": "Input should be less than or equal to 7"'),
        ({"scale": "opiates", "items": CALM_COWS}, "scale"),
    ],
)
async def test_a_bad_assessment_is_refused_naming_the_item_and_nothing_is_stored(
    api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore, body: dict[str, object], says: str
) -> None:
    response = await api.post(PATH, json=body, headers=auth(token(Role.NURSE)))

    assert response.status_code == 422
    assert says in json.dumps(response.json()["detail"], ensure_ascii=False)
    assert await store.withdrawal_assessments("p1") == []
    audited = [(a.action, a.patient_id) for a in await store.list_audit(limit=5)]
    assert ("write.withdrawal_assessment", "p1") not in audited  # refused: never audited as written


async def test_the_aws_form_proposes_the_vital_items_from_the_latest_readings(
    api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore
) -> None:
    measured = NOW - timedelta(seconds=20)  # after the seeded readings
    vitals = {Parameter.PULSE: 118, Parameter.DIASTOLIC_BP: 102, Parameter.TEMPERATURE: 37.6, Parameter.RESP_RATE: 22}
    await store.append([Reading("mon-1", "p1", p, v, measured, measured) for p, v in vitals.items()], [])

    response = await api.get(f"{PATH}/proposal", params={"scale": "aws"}, headers=auth(token(Role.NURSE)))

    assert response.status_code == 200
    items = {i["item"]: i for i in response.json()["items"]}
    assert len(items) == 11 and items["hallucinations"] == {"item": "hallucinations", "scores": [0, 1, 2, 3, 4],
                                                            "proposed": None}  # fmt: skip
    proposed = {name: (i["proposed"]["score"], i["proposed"]["value"]) for name, i in items.items() if i["proposed"]}
    assert proposed == {
        "pulse": (2, 118),
        "diastolic_bp": (2, 102),
        "temperature": (2, 37.6),
        "breathing_rate": (1, 22),
    }
    assert items["pulse"]["proposed"]["measured_at"].startswith(measured.isoformat()[:19])
    assert ("read.withdrawal_proposal", "p1") in [(a.action, a.patient_id) for a in await store.list_audit(limit=3)]


async def test_a_coordinator_reads_but_may_not_score_and_another_site_sees_nothing(
    api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore
) -> None:
    coordinator = auth(token(Role.COORDINATOR))

    read = await api.get(PATH, headers=coordinator)
    refused = await api.post(PATH, json=cows(), headers=coordinator)
    elsewhere = await api.post(PATH, json=cows(), headers=auth(token(Role.NURSE, sites=("s2",))))

    assert read.status_code == 200 and read.json() == {"patient_id": "p1", "assessments": []}
    assert refused.status_code == 403
    assert elsewhere.status_code == 404
    denied = [(a.action, a.patient_id) for a in await store.list_audit(limit=5)]
    assert ("denied.write.withdrawal_assessment", "p1") in denied
    assert await store.withdrawal_assessments("p1") == []
