"""A patient's own limits over REST: a doctor or specialist sets them with a reason, every change is kept and
audited, nurses read them, and ingest is asked to re-score (through Mosquitto)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from core.mqtt import MqttClient
from core.store.sqlite import SqliteStore
from core.topics import rescore_topic
from core.types import Parameter, PatientLimit, Role
from tests.dashboard_api.conftest import NOW, FixedClock, TokenFactory, auth

PATH = "/api/v1/patients/p1/limits"
COPD = {"parameter": "spo2", "low": 88, "high": 92, "reason": "KOLS med kjent hyperkapni"}
INBOX_TIMEOUT_S = 10


def _doctor(token: TokenFactory) -> dict[str, str]:
    return auth(token(Role.DOCTOR, user="dr-berg"))


@pytest.mark.integration
async def test_a_doctor_sets_a_limit_it_is_stored_audited_and_ingest_is_asked_to_rescore(
    live_api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore, observer: MqttClient, topic_root: str
) -> None:
    observer.subscribe(rescore_topic(topic_root), 1)
    await observer.connect()

    response = await live_api.put(PATH, json={"limits": [COPD]}, headers=_doctor(token))

    assert response.status_code == 200
    assert response.json() == {
        "patient_id": "p1",
        "limits": [
            {
                "parameter": "spo2",
                "low": 88.0,
                "high": 92.0,
                "reason": "KOLS med kjent hyperkapni",
                "set_by": "dr-berg",
                "set_at": "2025-01-15T08:00:00Z",
            }
        ],
    }
    stored = PatientLimit("p1", Parameter.SPO2, 88.0, 92.0, "KOLS med kjent hyperkapni", "dr-berg", NOW)
    assert await store.patient_limit_history("p1") == [stored]
    assert [(a.user_id, a.action, a.subject) for a in await store.list_audit(limit=5)] == [
        ("dr-berg", "write.limits", "p1")
    ]
    async with asyncio.timeout(INBOX_TIMEOUT_S):
        message = await observer.inbox.get()
    assert (message.topic, json.loads(message.payload)) == (rescore_topic(topic_root), {"patient_ids": ["p1"]})


async def test_a_nurse_reads_the_limits_in_force(
    api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore, clock: FixedClock
) -> None:
    await store.set_patient_limits(
        [PatientLimit("p1", Parameter.PULSE, None, 125.0, "kjent takykardi", "dr-berg", NOW)]
    )

    response = await api.get(PATH, headers=auth(token()))

    assert response.status_code == 200
    assert response.json() == {
        "patient_id": "p1",
        "limits": [
            {
                "parameter": "pulse",
                "low": None,
                "high": 125.0,
                "reason": "kjent takykardi",
                "set_by": "dr-berg",
                "set_at": "2025-01-15T08:00:00Z",
            }
        ],
    }
    assert [(a.user_id, a.action, a.subject) for a in await store.list_audit(limit=5)] == [
        ("nurse-anne", "read.limits", "p1")
    ]


@pytest.mark.integration
async def test_clearing_a_limit_keeps_it_in_the_history(
    live_api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore, clock: FixedClock
) -> None:
    assert (await live_api.put(PATH, json={"limits": [COPD]}, headers=_doctor(token))).status_code == 200
    clock.advance(3600)
    cleared = {"parameter": "spo2", "low": None, "high": None, "reason": "hyperkapni avkreftet"}
    specialist = auth(token(Role.SPECIALIST, user="dr-lunge"))

    response = await live_api.put(PATH, json={"limits": [cleared]}, headers=specialist)

    assert response.status_code == 200
    assert response.json() == {"patient_id": "p1", "limits": []}
    history = (await live_api.get(f"{PATH}/history", headers=auth(token()))).json()
    assert [(h["low"], h["high"], h["set_by"], h["reason"]) for h in history] == [
        (88.0, 92.0, "dr-berg", "KOLS med kjent hyperkapni"),
        (None, None, "dr-lunge", "hyperkapni avkreftet"),
    ]


@pytest.mark.integration
async def test_a_parameter_not_named_keeps_its_limit(
    live_api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore
) -> None:
    await live_api.put(PATH, json={"limits": [COPD]}, headers=_doctor(token))
    pulse = {"parameter": "pulse", "low": 50, "high": 125, "reason": "kjent takykardi"}

    response = await live_api.put(PATH, json={"limits": [pulse]}, headers=_doctor(token))

    assert [(limit["parameter"], limit["high"]) for limit in response.json()["limits"]] == [
        ("pulse", 125.0),
        ("spo2", 92.0),
    ]


@pytest.mark.parametrize("role", [Role.NURSE, Role.TECHNICIAN, Role.COORDINATOR])
async def test_only_a_doctor_or_specialist_sets_limits(
    api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore, role: Role
) -> None:
    response = await api.put(PATH, json={"limits": [COPD]}, headers=auth(token(role, user="someone")))

    assert response.status_code == 403
    assert response.json() == {"detail": f"Role {role.value} may not do this; it needs one of: doctor, specialist"}
    assert await store.patient_limit_history("p1") == []


async def test_a_technician_cannot_read_limits(api: httpx.AsyncClient, token: TokenFactory) -> None:
    response = await api.get(PATH, headers=auth(token(Role.TECHNICIAN, user="tech-1")))
    assert response.status_code == 403


async def test_another_sites_patient_is_not_found_and_the_attempt_audited(
    api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore
) -> None:
    response = await api.put("/api/v1/patients/p3/limits", json={"limits": [COPD]}, headers=_doctor(token))

    assert (response.status_code, response.json()) == (404, {"detail": "Patient p3 has no current stay"})
    assert await store.patient_limit_history("p3") == []
    [entry] = await store.list_audit(limit=5)
    assert (entry.action, entry.subject, entry.detail) == ("denied.write.limits", "p3", "site s2")


@pytest.mark.parametrize(
    ("limit", "says"),
    [
        ({**COPD, "reason": " "}, "spo2: give a reason for the change (at least 3 letters)"),
        ({**COPD, "low": 70}, "spo2 low must be between 80 and 100"),
        ({**COPD, "low": 93}, "spo2 low must be below high"),
        ({**COPD, "parameter": "consciousness"}, "consciousness takes no limits (only spo2, pulse"),
        ({**COPD, "high": 1000}, "less than or equal to 300"),
        ({**COPD, "parameter": "glucose"}, "Input should be"),
        ({**COPD, "set_by": "dr-x"}, "Extra inputs are not permitted"),
    ],
)
async def test_a_limit_that_makes_no_sense_is_422_naming_what_to_fix(
    api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore, limit: dict[str, object], says: str
) -> None:
    response = await api.put(PATH, json={"limits": [limit]}, headers=_doctor(token))

    assert response.status_code == 422
    assert says in json.dumps(response.json())
    assert await store.patient_limit_history("p1") == []


async def test_naming_a_parameter_twice_is_422(api: httpx.AsyncClient, token: TokenFactory) -> None:
    response = await api.put(PATH, json={"limits": [COPD, COPD]}, headers=_doctor(token))
    assert response.status_code == 422
    assert "named twice: spo2" in json.dumps(response.json())
