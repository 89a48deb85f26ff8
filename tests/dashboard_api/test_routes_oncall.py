"""An admin sets a unit up (escalation policies, rotations, overrides, gateways, contact points); a nurse sees who is
on call."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from core.store.sqlite import SqliteStore
from core.types import Role
from tests.dashboard_api.conftest import NOW, TokenFactory, auth

pytestmark = pytest.mark.usefixtures("seeded")

DOCTOR_FIRST: dict[str, Any] = {
    "name": "KAD natt",
    "steps": [
        {"targets": ["role:doctor_on_call"], "escalate_after_s": 120},
        {"targets": ["role:hospital_specialist", "person:unn-vakttelefon"], "escalate_after_s": 300},
    ],
    "repeat": 1,
}
NIGHT_ROTATION = {
    "name": "Legevakt Hammerfest",
    "role": "doctor_on_call",
    "site_ids": ["s1"],
    "handoff_times": ["08:00", "15:30"],
    "members": ["dr-lund", "dr-berg"],
    "starts_on": "2025-01-01",
}


def admin(token: TokenFactory) -> dict[str, str]:
    return auth(token(Role.ADMIN, ("s1",), user="admin-eva"))


def all_sites_admin(token: TokenFactory) -> dict[str, str]:
    return auth(token(Role.ADMIN, ("*",), user="root"))


async def test_a_site_uses_the_default_policies_until_an_admin_sets_its_own(
    api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore
) -> None:
    before = await api.get("/api/v1/sites/s1/escalation-policies", headers=auth(token()))
    assert before.status_code == 200
    assert [(p["priority"], p["site_id"], len(p["steps"])) for p in before.json()] == [
        ("high", None, 3),
        ("medium", None, 2),
        ("low", None, 0),
    ]
    put = await api.put("/api/v1/sites/s1/escalation-policies/high", json=DOCTOR_FIRST, headers=admin(token))
    assert put.status_code == 200
    assert put.json()["steps"][1] == DOCTOR_FIRST["steps"][1] and put.json()["site_id"] == "s1"
    after = await api.get("/api/v1/sites/s1/escalation-policies", headers=auth(token()))
    assert after.json()[0] == put.json()
    [entry] = [a for a in await store.list_audit(limit=5) if a.action == "set.escalation_policy"]
    assert (entry.user_id, entry.subject, entry.detail) == ("admin-eva", "s1", "high: 2 steps")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({**DOCTOR_FIRST, "steps": []}, "at least 1 item"),
        ({**DOCTOR_FIRST, "steps": [{"targets": ["role:porter"], "escalate_after_s": 60}]}, "unknown role 'porter'"),
        ({**DOCTOR_FIRST, "steps": [{"targets": ["pager:123"], "escalate_after_s": 60}]}, "should match pattern"),
        (
            {**DOCTOR_FIRST, "steps": [{"targets": ["role:unit_nurse", "care_team:priest"], "escalate_after_s": 60}]},
            "unknown care-team role 'priest'",
        ),
        (
            {**DOCTOR_FIRST, "steps": [{"targets": ["care_team:lar_team"], "escalate_after_s": 60}]},
            "a step needs someone to respond",
        ),
        ({**DOCTOR_FIRST, "repeat": 9}, "less than or equal to 3"),
        ({**DOCTOR_FIRST, "steps": [{"targets": ["role:unit_nurse"], "escalate_after_s": -1}]}, "greater than"),
        ({**DOCTOR_FIRST, "colour": "red"}, "Extra inputs are not permitted"),
    ],
    ids=[
        "no-steps",
        "unknown-role",
        "bad-target",
        "unknown-team-role",
        "only-informed",
        "endless-repeat",
        "negative-wait",
        "extra-field",
    ],
)
async def test_a_bad_policy_is_refused_saying_what_is_wrong(
    api: httpx.AsyncClient, token: TokenFactory, body: dict[str, Any], message: str
) -> None:
    response = await api.put("/api/v1/sites/s1/escalation-policies/high", json=body, headers=admin(token))
    assert response.status_code == 422
    assert message in str(response.json()["detail"])


async def test_only_an_admin_of_the_site_changes_its_policies(api: httpx.AsyncClient, token: TokenFactory) -> None:
    nurse = await api.put("/api/v1/sites/s1/escalation-policies/high", json=DOCTOR_FIRST, headers=auth(token()))
    assert nurse.status_code == 403
    assert nurse.json() == {"detail": "Role nurse may not do this; it needs one of: admin"}
    other = await api.put("/api/v1/sites/s2/escalation-policies/high", json=DOCTOR_FIRST, headers=admin(token))
    assert other.status_code == 403
    assert other.json() == {"detail": "Your token does not grant access to site s2"}
    missing = await api.put("/api/v1/sites/s9/escalation-policies/high", json=DOCTOR_FIRST, headers=admin(token))
    assert missing.status_code == 404


async def test_a_nurse_sees_who_is_on_call_from_the_rotation_and_an_override(
    api: httpx.AsyncClient, token: TokenFactory
) -> None:
    created = await api.post("/api/v1/rotations", json=NIGHT_ROTATION, headers=admin(token))
    assert created.status_code == 201
    rotation_id = created.json()["rotation_id"]
    # 15 Jan 2025 08:00 UTC is 09:00 in Oslo: the day shift (08:00-15:30 local). Shifts since 1 Jan: 28 -> dr-lund.
    on_call = await api.get("/api/v1/sites/s1/on-call", params={"at": NOW.isoformat()}, headers=auth(token()))
    assert on_call.status_code == 200
    doctor = next(r for r in on_call.json() if r["role"] == "doctor_on_call")
    assert (doctor["person_id"], doctor["starts_at"], doctor["ends_at"]) == (
        "dr-lund",
        "2025-01-15T07:00:00Z",
        "2025-01-15T14:30:00Z",
    )
    nurse = next(r for r in on_call.json() if r["role"] == "unit_nurse")
    assert nurse["person_id"] is None  # nobody rostered: escalation skips the role, and the page can say so

    swap = {"person_id": "dr-vikar", "starts_at": "2025-01-15T07:30:00Z", "ends_at": "2025-01-15T09:00:00Z"}
    added = await api.post(f"/api/v1/rotations/{rotation_id}/overrides", json=swap, headers=admin(token))
    assert added.status_code == 201
    later = await api.get("/api/v1/sites/s1/on-call", params={"at": "2025-01-15T08:00:00Z"}, headers=auth(token()))
    doctor = next(r for r in later.json() if r["role"] == "doctor_on_call")
    assert (doctor["person_id"], doctor["override_id"]) == ("dr-vikar", added.json()["override_id"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"handoff_times": ["15:30", "08:00"]}, "increasing order"),
        ({"handoff_times": ["25:00"]}, "should match pattern"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"members": []}, "at least 1 item"),
    ],
    ids=["unsorted", "not-a-time", "unknown-zone", "nobody"],
)
async def test_a_bad_rotation_is_refused_saying_what_to_fix(
    api: httpx.AsyncClient, token: TokenFactory, change: dict[str, Any], message: str
) -> None:
    response = await api.post("/api/v1/rotations", json={**NIGHT_ROTATION, **change}, headers=admin(token))
    assert response.status_code == 422
    assert message in str(response.json()["detail"])


async def test_a_gateway_must_be_https_and_its_secret_is_never_returned(
    api: httpx.AsyncClient, token: TokenFactory
) -> None:
    body = {"name": "UNN Vocera", "url": "https://vocera.unn.example/hook", "secret": "s" * 40}
    put = await api.put("/api/v1/webhook-endpoints/unn", json=body, headers=all_sites_admin(token))
    assert put.status_code == 200
    assert put.json() == {"endpoint_id": "unn", "name": "UNN Vocera", "url": "https://vocera.unn.example/hook"}
    plain = await api.put(
        "/api/v1/webhook-endpoints/unn",
        json={**body, "url": "http://vocera.unn.example/hook"},
        headers=all_sites_admin(token),
    )
    assert plain.status_code == 422 and "https" in plain.json()["detail"]

    points = [{"endpoint_id": "unn", "address": "+4790000000"}]
    reached = await api.put("/api/v1/people/dr-lund/contact-points", json=points, headers=all_sites_admin(token))
    assert reached.status_code == 200
    assert reached.json() == [{"person_id": "dr-lund", "endpoint_id": "unn", "address": "+4790000000"}]
    unknown = await api.put(
        "/api/v1/people/dr-lund/contact-points",
        json=[{"endpoint_id": "nope", "address": "1"}],
        headers=all_sites_admin(token),
    )
    assert unknown.status_code == 422 and unknown.json() == {"detail": "Unknown endpoint nope"}


async def test_an_admin_of_one_site_can_neither_reroute_a_pager_nor_make_a_doctor_unreachable(
    api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore
) -> None:
    pager = {"name": "s1 pager", "url": "https://pager.s1.example/hook", "secret": "a" * 32}
    assert (await api.put("/api/v1/webhook-endpoints/pager-s1", json=pager, headers=all_sites_admin(token))).is_success
    points = [{"endpoint_id": "pager-s1", "address": "1234"}]
    put = await api.put("/api/v1/people/dr-berg/contact-points", json=points, headers=all_sites_admin(token))
    assert put.is_success
    s2_admin = auth(token(Role.ADMIN, ("s2",), user="admin-eva"))
    refused = (
        'Gateways and contact points serve every site: changing them needs an all-sites admin token (sites: ["*"])'
    )

    evil = {**pager, "url": "https://evil.example/hook", "secret": "b" * 32}
    rerouted = await api.put("/api/v1/webhook-endpoints/pager-s1", json=evil, headers=s2_admin)
    emptied = await api.put("/api/v1/people/dr-berg/contact-points", json=[], headers=s2_admin)

    assert (rerouted.status_code, rerouted.json()) == (403, {"detail": refused})
    assert (emptied.status_code, emptied.json()) == (403, {"detail": refused})
    endpoint = await store.get_webhook_endpoint("pager-s1")
    assert (endpoint.url, endpoint.secret) == ("https://pager.s1.example/hook", b"a" * 32)
    [(point,)] = (await store.contact_points(["dr-berg"])).values()
    assert (point.endpoint_id, point.address) == ("pager-s1", "1234")
    denied = [(a.action, a.subject, a.grant) for a in await store.list_audit(limit=10) if a.user_id == "admin-eva"]
    assert sorted(denied) == [
        ("denied.set.contact_points", "dr-berg", ""),
        ("denied.set.webhook_endpoint", "pager-s1", ""),
    ]


@pytest.mark.parametrize("at", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00+01:00", "2035-01-31T08:00:00Z"])
async def test_who_was_on_call_is_asked_within_ten_years_of_now(
    api: httpx.AsyncClient, token: TokenFactory, at: str
) -> None:
    assert (await api.post("/api/v1/rotations", json=NIGHT_ROTATION, headers=admin(token))).status_code == 201
    response = await api.get("/api/v1/sites/s1/on-call", params={"at": at}, headers=auth(token()))
    assert (response.status_code, response.json()) == (422, {"detail": "at: ask for a time within 10 years of now"})
