"""Who sees what: role × grant (site, care team, none) × resource (patient, observations, ward board, alerts, live
socket), with Per (p3) in a KAD bed of another municipality (site s2) and his GP, who serves no site, in his care
team; and access that ends the moment the GP leaves the team or is disabled, on an open socket of another API node."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from core.mqtt import MqttClient
from core.store.sqlite import SqliteStore
from core.topics import events_topic
from core.types import (
    AlertKind,
    AlertSeverity,
    Bed,
    CareSetting,
    CareTeamMember,
    CareTeamRole,
    Patient,
    Role,
    Stay,
    User,
)
from dashboard_api.auth import issue_token
from dashboard_api.live import LiveHub
from dashboard_api.ws import CloseCode
from tests.dashboard_api.conftest import (
    NOW,
    SECRET,
    FixedClock,
    Seeded,
    Served,
    auth,
    build_app,
    connect_hub_client,
    offline_client,
    serve,
)
from tests.dashboard_api.test_live import score_json
from tests.dashboard_api.test_ws import closed_with, receive, ward_socket

CLINICAL = (Role.NURSE, Role.DOCTOR, Role.SPECIALIST, Role.COORDINATOR)
# Each holds every role, so the token's role is what varies; the grant is what differs between them.
GRANT_USERS = {"site": ("kad-nurse", ("s2",)), "team": ("gp-lind", ()), "none": ("sykestue-nurse", ("s1",))}
REQUESTED_SITES = ("s1", "s2")  # every token asks for both; the registry bounds them
CLOSE_WAIT_S = 10.0  # the access watch polls once a second; a close later than this is a failure


async def register_people(store: SqliteStore) -> None:
    """The three users, Per's GP in his care team, and Siri (p4) in the next KAD bed with an alert, not the GP's."""
    for user_id, sites in GRANT_USERS.values():
        await store.add_user(User(user_id, user_id, tuple(Role), "Alta kommune", sites, NOW - timedelta(days=30)))
    admitted = NOW - timedelta(days=1)
    await store.add_care_team_member(CareTeamMember("p3", "gp-lind", CareTeamRole.GP, "Alta legekontor", admitted))
    await store.upsert_bed(Bed("b22", "w2", "2"))
    await store.upsert_patient(Patient("p4", "Siri Berg", 1948))
    await store.add_stay(Stay("st4", "p4", "w2", CareSetting.BEDSIDE, admitted, bed_id="b22"))
    await store.raise_alert(
        patient_id="p4", device_id=None, ward_id="w2", kind=AlertKind.NEWS2, severity=AlertSeverity.HIGH,
        message="NEWS2 8", at=NOW - timedelta(minutes=5),
    )  # fmt: skip


def token_for(grant: str, role: Role, clock: FixedClock) -> str:
    user_id, _ = GRANT_USERS[grant]
    return issue_token(SECRET, user_id=user_id, role=role, site_ids=list(REQUESTED_SITES), ttl_s=3600, now=clock())


@pytest.fixture
async def people(store: SqliteStore, seeded: Seeded) -> Seeded:
    await register_people(store)
    return seeded


async def _resources(api: httpx.AsyncClient, token: str) -> dict[str, httpx.Response]:
    headers = auth(token)
    return {
        "patient": await api.get("/api/v1/patients/p3", headers=headers),
        "observations": await api.get("/api/v1/patients/p3/observations", headers=headers),
        "board": await api.get("/api/v1/wards/w2", headers=headers),
        "alerts": await api.get("/api/v1/alerts", params={"ward_id": "w2"}, headers=headers),
    }


def _board_patients(response: httpx.Response) -> list[str]:
    return [b["patient"]["patient_id"] for b in response.json()["beds"] if b["patient"]]


@pytest.mark.parametrize("role", CLINICAL)
@pytest.mark.parametrize(
    ("grant", "board", "written"),
    [("site", ["p3", "p4"], "site:s2"), ("team", ["p3"], "team:gp")],
)
async def test_a_granted_clinician_reads_the_patient_and_the_board_shows_what_the_grant_covers(
    api: httpx.AsyncClient, people: Seeded, store: SqliteStore, clock: FixedClock, role: Role, grant: str,
    board: list[str], written: str,
) -> None:  # fmt: skip
    got = await _resources(api, token_for(grant, role, clock))
    assert {name: r.status_code for name, r in got.items()} == dict.fromkeys(got, 200)
    assert (got["patient"].json()["patient_id"], got["patient"].json()["stay"]["ward_id"]) == ("p3", "w2")
    assert [o["parameter"] for o in got["observations"].json()["readings"]] == ["pulse"]
    assert _board_patients(got["board"]) == board
    assert sorted(a["patient_id"] for a in got["alerts"].json()) == board
    rows = await store.list_audit(limit=20)
    assert {(e.patient_id, e.grant) for e in rows} == {(p, written) for p in board}
    assert {e.action for e in rows} == {"read.patient", "read.observations", "read.ward", "read.alerts"}


@pytest.mark.parametrize("role", CLINICAL)
async def test_a_clinician_with_neither_site_nor_team_finds_nothing_and_each_attempt_is_audited(
    api: httpx.AsyncClient, people: Seeded, store: SqliteStore, clock: FixedClock, role: Role
) -> None:
    got = await _resources(api, token_for("none", role, clock))
    assert {name: r.status_code for name, r in got.items()} == dict.fromkeys(got, 404)
    assert got["patient"].json() == {"detail": "Patient p3 has no current stay"}  # as for an unknown id
    assert got["board"].json() == {"detail": "Ward w2 not found"}
    refused = [(e.action, e.patient_id, e.grant) for e in reversed(await store.list_audit(limit=20))]
    assert refused == [
        ("denied.read.patient", "p3", ""),
        ("denied.read.observations", "p3", ""),
        ("denied.read.ward", "p3", ""),
        ("denied.read.ward", "p4", ""),
        ("denied.read.alerts", "p3", ""),
        ("denied.read.alerts", "p4", ""),
    ]


@pytest.mark.parametrize("grant", ["site", "team", "none"])
async def test_a_technician_is_refused_patient_data_whatever_the_grant(
    api: httpx.AsyncClient, people: Seeded, store: SqliteStore, clock: FixedClock, grant: str
) -> None:
    got = await _resources(api, token_for(grant, Role.TECHNICIAN, clock))
    needs = "Role technician may not do this; it needs one of: nurse, doctor, specialist, coordinator"
    assert {name: (r.status_code, r.json()) for name, r in got.items()} == dict.fromkeys(got, (403, {"detail": needs}))
    refused = [(e.action, e.patient_id) for e in reversed(await store.list_audit(limit=20))]
    assert refused == [("denied.role", "p3"), ("denied.role", "p3"), ("denied.role", None), ("denied.role", None)]


# --- live sockets, and access that ends ------------------------------------------------------------------------


@pytest.fixture
async def two_nodes(
    store: SqliteStore,
    people: Seeded,
    clock: FixedClock,
    topic_root: str,
    broker_client: MqttClient,
    observer: MqttClient,
) -> AsyncIterator[tuple[Served, httpx.AsyncClient]]:
    """Node A serves sockets (uvicorn, its hub on the broker); node B, another app on the same store, takes the
    administrator's calls. They share nothing but the store and the broker."""
    app_a = build_app(store, broker_client, topic_root=topic_root, clock=clock)
    await connect_hub_client(broker_client, observer, topic_root=topic_root)
    hub: LiveHub = app_a.state.live
    hub_task = asyncio.create_task(hub.run(), name="live-hub")
    app_b = build_app(store, offline_client(), topic_root=topic_root, clock=clock)
    try:
        async with (
            serve(app_a) as served,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app_b), base_url="http://node-b.test") as node_b,
        ):
            yield served, node_b
    finally:
        hub_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await hub_task


def _admin(clock: FixedClock) -> dict[str, str]:
    return auth(issue_token(SECRET, user_id="root", role=Role.ADMIN, site_ids=["*"], ttl_s=3600, now=clock()))


@pytest.mark.integration
@pytest.mark.parametrize(
    ("grant", "role", "expected"),
    [
        ("site", Role.NURSE, ["p3", "p4"]),
        ("team", Role.DOCTOR, ["p3"]),
        ("none", Role.NURSE, (CloseCode.NOT_FOUND, "Ward w2 not found")),
        ("site", Role.TECHNICIAN, (CloseCode.FORBIDDEN, "Role technician may not watch wards")),
    ],
)
async def test_the_live_ward_socket_shows_what_the_grant_covers(
    two_nodes: tuple[Served, httpx.AsyncClient],
    clock: FixedClock,
    grant: str,
    role: Role,
    expected: list[str] | tuple[int, str],
) -> None:
    served, _ = two_nodes
    async with ward_socket(served, "/api/v1/ws/wards/w2", token_for(grant, role, clock)) as socket:
        if isinstance(expected, tuple):
            assert await closed_with(socket) == expected
            return
        [board] = (await receive(socket))["wards"]
        assert [b["patient"]["patient_id"] for b in board["beds"] if b["patient"]] == expected


@pytest.mark.integration
async def test_the_gp_reaches_per_in_another_municipalitys_kad_bed_and_loses_him_the_moment_they_leave_the_team(
    two_nodes: tuple[Served, httpx.AsyncClient],
    clock: FixedClock,
    observer: MqttClient,
    topic_root: str,
) -> None:
    served, node_b = two_nodes
    gp = token_for("team", Role.DOCTOR, clock)
    async with httpx.AsyncClient(base_url=served.base_url) as node_a:
        assert (await node_a.get("/api/v1/patients/p3", headers=auth(gp))).status_code == 200
        async with ward_socket(served, "/api/v1/ws/wards/w2", gp) as socket:
            [board] = (await receive(socket))["wards"]
            assert [b["bed_id"] for b in board["beds"]] == ["b21"]  # Per's bed only: not Siri's, not an empty one
            siri = score_json("w2", total=8).replace(b'"p1"', b'"p4"')
            per = score_json("w2", total=6).replace(b'"p1"', b'"p3"')
            await observer.publish(events_topic(topic_root, "s2", "w2", "score"), siri)
            await observer.publish(events_topic(topic_root, "s2", "w2", "score"), per)
            delta = await receive(socket)  # Siri's score is not sent to Per's GP
            assert (delta["patient_id"], delta["total"]) == ("p3", 6)

            ended = await node_b.post("/api/v1/admin/patients/p3/care-team/gp-lind/end", json={}, headers=_admin(clock))
            assert (ended.status_code, [m["role"] for m in ended.json()]) == (200, ["gp"])
            after = await node_a.get("/api/v1/patients/p3", headers=auth(gp))
            assert (after.status_code, after.json()) == (404, {"detail": "Patient p3 has no current stay"})
            async with asyncio.timeout(CLOSE_WAIT_S):
                code, reason = await closed_with(socket)
    assert (code, reason) == (CloseCode.ACCESS_REVOKED, "Access to a patient on ward w2 ended (care team)")


@pytest.mark.integration
async def test_disabling_a_user_on_one_node_refuses_their_token_and_closes_their_socket_on_another(
    two_nodes: tuple[Served, httpx.AsyncClient], clock: FixedClock
) -> None:
    served, node_b = two_nodes
    nurse = token_for("site", Role.NURSE, clock)
    async with ward_socket(served, "/api/v1/ws/wards/w2", nurse) as socket:
        await receive(socket)
        disabled = await node_b.post("/api/v1/admin/users/kad-nurse/disable", headers=_admin(clock))
        assert (disabled.status_code, disabled.json()["disabled_at"]) == (200, "2025-01-15T08:00:00Z")
        async with asyncio.timeout(CLOSE_WAIT_S):
            assert await closed_with(socket) == (
                CloseCode.ACCESS_REVOKED,
                "User kad-nurse is disabled; this stream is closed",
            )
    refused = await node_b.get("/api/v1/patients/p3", headers=auth(nurse))
    assert (refused.status_code, refused.json()) == (
        401,
        {"detail": "Bearer token rejected: user kad-nurse is disabled"},
    )
    async with ward_socket(served, "/api/v1/ws/wards/w2", nurse) as again:
        assert await closed_with(again) == (CloseCode.UNAUTHENTICATED, "Token rejected: user kad-nurse is disabled")
