"""An admin sees the holes in a site's on-call roster, per role its escalation policies page, before an alert falls
into one; who may ask is who may read the roster, and a window too long or the wrong way round is refused."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from core.types import Role
from tests.dashboard_api.conftest import TokenFactory, auth

pytestmark = pytest.mark.usefixtures("seeded")

GAPS = "/api/v1/sites/s1/on-call/gaps"
# 25 March - 5 April 2025: Oslo moves to summer time (UTC+2) on Sunday 30 March, 01:00 UTC.
WINDOW = {"from": "2025-03-25T00:00:00Z", "to": "2025-04-05T00:00:00Z"}
DOCTORS = {
    "name": "Legevakt Hammerfest",
    "role": "doctor_on_call",
    "site_ids": ["s1"],
    "handoff_times": ["08:00", "15:30"],
    "members": ["dr-lund", "dr-berg"],
    "starts_on": "2025-01-01",
}
# The new nurses' roster takes over on Monday 31 March at 08:00 Oslo summer time, 06:00 UTC: nobody before.
NURSES = {**DOCTORS, "name": "Sykestua", "role": "unit_nurse", "members": ["nurse-kari"], "starts_on": "2025-03-31"}
# The specialist rotation of another municipality: it does not cover s1, which has none of its own.
OTHER_SITES_SPECIALISTS = {**DOCTORS, "name": "UNN", "role": "hospital_specialist", "site_ids": ["s2"]}


def admin(token: TokenFactory, *sites: str) -> dict[str, str]:
    return auth(token(Role.ADMIN, sites or ("s1",), user="admin-eva"))


async def _add(api: httpx.AsyncClient, token: TokenFactory, rotation: dict[str, Any]) -> int:
    sites = tuple(rotation["site_ids"])
    created = await api.post("/api/v1/rotations", json=rotation, headers=admin(token, *sites))
    assert created.status_code == 201, created.text
    return int(created.json()["rotation_id"])


def _role(body: dict[str, Any], role: str) -> dict[str, Any]:
    return next(r for r in body["roles"] if r["role"] == role)


async def test_an_admin_sees_the_gap_before_a_new_rotation_starts_and_a_role_nobody_covers(
    api: httpx.AsyncClient, token: TokenFactory
) -> None:
    doctors = await _add(api, token, DOCTORS)
    nurses = await _add(api, token, NURSES)
    await _add(api, token, OTHER_SITES_SPECIALISTS)
    # A stand-in booked before the nurses' rotation starts covers nobody (docs/ALERTS.md: overrides paint over the
    # rotation's shifts from its first handoff on), so the gap stays whole, as escalation would find it.
    swap = {"person_id": "nurse-vikar", "starts_at": "2025-03-28T06:00:00Z", "ends_at": "2025-03-28T18:00:00Z"}
    assert (await api.post(f"/api/v1/rotations/{nurses}/overrides", json=swap, headers=admin(token))).is_success

    response = await api.get(GAPS, params=WINDOW, headers=admin(token))

    assert response.status_code == 200
    assert response.json() == {
        "site_id": "s1",
        "starts_at": "2025-03-25T00:00:00Z",
        "ends_at": "2025-04-05T00:00:00Z",
        "roles": [  # vaktrom's default policies: high pages all three, medium nurse and doctor, low nobody
            {
                "role": "unit_nurse",
                "paged_for": ["high", "medium"],
                "rotation_ids": [nurses],
                "gaps": [
                    {
                        "starts_at": "2025-03-25T00:00:00Z",
                        "ends_at": "2025-03-31T06:00:00Z",
                        "duration_s": 6 * 86400 + 6 * 3600,
                    }
                ],
            },
            {"role": "doctor_on_call", "paged_for": ["high", "medium"], "rotation_ids": [doctors], "gaps": []},
            {
                "role": "hospital_specialist",
                "paged_for": ["high"],
                "rotation_ids": [],
                "gaps": [
                    {"starts_at": "2025-03-25T00:00:00Z", "ends_at": "2025-04-05T00:00:00Z", "duration_s": 11 * 86400}
                ],
            },
        ],
    }
    # The same hole as who is on call answers inside it.
    on_call = await api.get("/api/v1/sites/s1/on-call", params={"at": "2025-03-28T12:00:00Z"}, headers=admin(token))
    assert _role({"roles": on_call.json()}, "unit_nurse")["person_id"] is None


async def test_the_roles_reported_are_those_the_sites_policies_page_over_the_next_14_days_by_default(
    api: httpx.AsyncClient, token: TokenFactory
) -> None:
    policy = {
        "name": "Heimetenesta",
        "steps": [{"targets": ["role:home_coordinator", "role:unit_nurse"], "escalate_after_s": 300}],
        "repeat": 0,
    }
    put = await api.put("/api/v1/sites/s1/escalation-policies/high", json=policy, headers=admin(token))
    assert put.status_code == 200

    response = await api.get(GAPS, headers=auth(token()))  # a nurse of s1 may read the roster: and its holes

    assert response.status_code == 200
    body = response.json()
    # The test clock's now, 15 January 2025 08:00 UTC, and 14 days on; with no rotation at all, all of it is a gap.
    assert (body["starts_at"], body["ends_at"]) == ("2025-01-15T08:00:00Z", "2025-01-29T08:00:00Z")
    whole = [{"starts_at": "2025-01-15T08:00:00Z", "ends_at": "2025-01-29T08:00:00Z", "duration_s": 14 * 86400}]
    assert [(r["role"], r["paged_for"], r["rotation_ids"], r["gaps"]) for r in body["roles"]] == [
        ("unit_nurse", ["high", "medium"], [], whole),
        ("doctor_on_call", ["medium"], [], whole),
        ("home_coordinator", ["high"], [], whole),
    ]  # the hospital specialist is paged by no policy of s1 any more: a gap there delays no alert


async def test_only_the_sites_admins_and_staff_see_its_gaps(api: httpx.AsyncClient, token: TokenFactory) -> None:
    other_admin = await api.get(GAPS, params=WINDOW, headers=admin(token, "s2"))
    technician = await api.get(GAPS, params=WINDOW, headers=auth(token(Role.TECHNICIAN, user="tech-1")))
    missing = await api.get("/api/v1/sites/s9/on-call/gaps", params=WINDOW, headers=admin(token, "*"))
    anonymous = await api.get(GAPS, params=WINDOW)

    assert (other_admin.status_code, other_admin.json()) == (
        403,
        {"detail": "Your token does not grant access to site s1"},
    )
    assert technician.status_code == 403
    assert technician.json()["detail"].startswith("Role technician may not do this; it needs one of: ")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Site s9 not found"})
    assert anonymous.status_code == 401
    assert (await api.get(GAPS, params=WINDOW, headers=admin(token, "*"))).status_code == 200


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        (
            {"from": "2025-03-01T00:00:00Z", "to": "2025-03-01T00:00:00Z"},
            "to must be after from: 2025-03-01T00:00:00+00:00 is not after 2025-03-01T00:00:00+00:00",
        ),
        (
            {"from": "2025-03-02T00:00:00Z", "to": "2025-03-01T00:00:00Z"},
            "to must be after from: 2025-03-01T00:00:00+00:00 is not after 2025-03-02T00:00:00+00:00",
        ),
        (  # from defaults to now, 15 January 2025 08:00 UTC
            {"to": "2025-01-15T07:00:00Z"},
            "to must be after from: 2025-01-15T07:00:00+00:00 is not after 2025-01-15T08:00:00+00:00",
        ),
        (
            {"from": "2025-03-01T00:00:00Z", "to": "2025-05-03T00:00:00Z"},
            "ask for at most 62 days at a time: 2025-03-01T00:00:00+00:00 to 2025-05-03T00:00:00+00:00 is 63 days",
        ),
        ({"from": "2025-03-01T00:00:00"}, "from needs a timezone, e.g. 2025-01-31T08:00:00Z"),
        ({"from": "9999-12-01T00:00:00Z"}, "from: ask for a time within 10 years of now"),
        ({"from": "2025-03-01T00:00:00Z", "to": "9999-12-01T00:00:00Z"}, "to: ask for a time within 10 years of now"),
    ],
    ids=["empty", "reversed", "to-before-now", "63-days", "no-offset", "year-9999-from", "year-9999-to"],
)
async def test_a_window_that_is_empty_reversed_or_too_long_is_refused_saying_why(
    api: httpx.AsyncClient, token: TokenFactory, params: dict[str, str], detail: str
) -> None:
    response = await api.get(GAPS, params=params, headers=admin(token))
    assert (response.status_code, response.json()) == (422, {"detail": detail})


async def test_a_window_of_exactly_62_days_is_answered(api: httpx.AsyncClient, token: TokenFactory) -> None:
    params = {"from": "2025-03-01T01:00:00+01:00", "to": "2025-05-02T02:00:00+02:00"}  # 62 x 24 h, Oslo's clock
    response = await api.get(GAPS, params=params, headers=admin(token))
    assert response.status_code == 200
    body = response.json()
    assert (body["starts_at"], body["ends_at"]) == ("2025-03-01T00:00:00Z", "2025-05-02T00:00:00Z")
    whole = [{"starts_at": "2025-03-01T00:00:00Z", "ends_at": "2025-05-02T00:00:00Z", "duration_s": 62 * 86400}]
    assert [(r["role"], r["gaps"]) for r in body["roles"]] == [
        ("unit_nurse", whole),
        ("doctor_on_call", whole),
        ("hospital_specialist", whole),
    ]
