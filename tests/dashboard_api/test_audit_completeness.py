"""A scripted session of reads over REST and live sockets, by a site nurse, a GP in the patient's care team, a nurse
of another site and a technician, leaves exactly one audit row per (user, patient, access), refused ones included
(a refusal for a ward that does not exist names no patient): no access unrecorded, none recorded twice (a patient
shown again on the same socket is not a new access)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import httpx
import pytest

from core.mqtt import MqttClient
from core.store.sqlite import SqliteStore
from core.topics import events_topic
from core.types import CareSetting, Patient, Role, Stay
from dashboard_api.ws import CloseCode
from tests.dashboard_api.conftest import NOW, FixedClock, Served, auth
from tests.dashboard_api.test_access_matrix import people, token_for, two_nodes
from tests.dashboard_api.test_live import score_json
from tests.dashboard_api.test_ws import closed_with, receive, ward_socket

__all__ = ["people", "two_nodes"]  # fixtures used here


def _score_of(patient_id: str, total: int) -> bytes:
    return score_json("w2", total=total).replace(b'"p1"', f'"{patient_id}"'.encode())


@pytest.mark.integration
async def test_a_session_of_reads_leaves_exactly_one_audit_row_per_user_patient_and_access(
    two_nodes: tuple[Served, httpx.AsyncClient],
    store: SqliteStore,
    clock: FixedClock,
    observer: MqttClient,
    topic_root: str,
) -> None:
    served, _ = two_nodes
    nurse, gp = token_for("site", Role.NURSE, clock), token_for("team", Role.DOCTOR, clock)
    stranger, technician = token_for("none", Role.NURSE, clock), token_for("site", Role.TECHNICIAN, clock)
    score = events_topic(topic_root, "s2", "w2", "score")
    async with httpx.AsyncClient(base_url=served.base_url) as api:
        assert (await api.get("/api/v1/patients/p3", headers=auth(nurse))).status_code == 200
        assert (await api.get("/api/v1/patients/p3/observations", headers=auth(gp))).status_code == 200
        assert (await api.get("/api/v1/patients/p3", headers=auth(stranger))).status_code == 404
        assert (await api.get("/api/v1/wards/w2", headers=auth(nurse))).status_code == 200
        assert (await api.get("/api/v1/patients/p4", headers=auth(technician))).status_code == 403

    async with ward_socket(served, "/api/v1/ws/wards/w2", nurse) as socket:
        await receive(socket)  # Per and Siri
        await store.upsert_patient(Patient("p5", "Ny Pasient"))
        await store.add_stay(Stay("st5", "p5", "w2", CareSetting.HOME, NOW - timedelta(minutes=1)))
        await observer.publish(score, _score_of("p5", 4))  # a patient who appears later on the open socket
        await observer.publish(score, _score_of("p3", 5))  # one already shown
        assert [(await receive(socket))["patient_id"] for _ in range(2)] == ["p5", "p3"]

    async with ward_socket(served, "/api/v1/ws/wards/w2", gp) as socket:
        await receive(socket)  # Per only
        await observer.publish(score, _score_of("p4", 9))  # not the GP's patient: neither sent nor audited
        await observer.publish(score, _score_of("p3", 6))
        assert (await receive(socket))["patient_id"] == "p3"

    async with ward_socket(served, "/api/v1/ws/wards/w2", stranger) as socket:
        assert await closed_with(socket) == (CloseCode.NOT_FOUND, "Ward w2 not found")
    async with ward_socket(served, "/api/v1/ws/wards/w9", stranger) as socket:  # no such ward: the same answer
        assert await closed_with(socket) == (CloseCode.NOT_FOUND, "Ward w9 not found")

    rows = Counter((e.user_id, e.patient_id, e.action, e.grant) for e in await store.list_audit(limit=100))
    assert rows == Counter(
        {
            ("kad-nurse", "p3", "read.patient", "site:s2"): 1,
            ("gp-lind", "p3", "read.observations", "team:gp"): 1,
            ("sykestue-nurse", "p3", "denied.read.patient", ""): 1,
            ("kad-nurse", "p3", "read.ward", "site:s2"): 1,
            ("kad-nurse", "p4", "read.ward", "site:s2"): 1,
            ("kad-nurse", "p4", "denied.role", ""): 1,
            ("kad-nurse", "p3", "ws.ward", "site:s2"): 1,
            ("kad-nurse", "p4", "ws.ward", "site:s2"): 1,
            ("kad-nurse", "p5", "ws.ward", "site:s2"): 1,
            ("gp-lind", "p3", "ws.ward", "team:gp"): 1,
            ("sykestue-nurse", "p3", "denied.ws.ward", ""): 1,
            ("sykestue-nurse", "p4", "denied.ws.ward", ""): 1,
            ("sykestue-nurse", "p5", "denied.ws.ward", ""): 1,
            ("sykestue-nurse", None, "denied.ws.ward", ""): 1,
        }
    )
    every = await store.list_audit(limit=100)
    assert all(e.source_address == "127.0.0.1" and len(e.token_id) == 32 for e in every)
