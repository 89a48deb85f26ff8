"""The people API (role admin): users, care-team memberships, the audit log and a patient's access report; and the
registry deciding every token: unknown, disabled, a role not held, sites beyond the user's."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from core.store.sqlite import SqliteStore
from core.types import Role
from dashboard_api.auth import issue_token
from tests.dashboard_api.conftest import NOW, SECRET, FixedClock, Seeded, TokenFactory, auth

KARI = {
    "user_id": "kari.lie",
    "name": "Kari Lie",
    "organisation": "Alta kommune",
    "roles": ["nurse", "coordinator"],
    "site_ids": ["s2"],
}


@pytest.fixture
def admin(token: TokenFactory) -> dict[str, str]:
    return auth(token(Role.ADMIN, ("*",), user="root"))


async def test_an_admin_registers_a_user_who_can_then_sign_in_with_a_role_they_hold(
    api: httpx.AsyncClient, admin: dict[str, str], store: SqliteStore, clock: FixedClock, seeded: Seeded
) -> None:
    created = await api.post("/api/v1/admin/users", json=KARI, headers=admin)
    assert created.status_code == 201
    assert created.json() == {
        **KARI, "roles": ["coordinator", "nurse"], "created_at": "2025-01-15T08:00:00Z", "disabled_at": None,
    }  # fmt: skip
    assert (await api.get("/api/v1/admin/users/kari.lie", headers=admin)).json() == created.json()
    assert "kari.lie" in [u["user_id"] for u in (await api.get("/api/v1/admin/users", headers=admin)).json()]
    [entry] = [e for e in await store.list_audit() if e.action == "admin.user.create"]
    assert (entry.user_id, entry.subject, entry.grant, entry.detail) == (
        "root", "kari.lie", "role:admin", "roles coordinator,nurse; sites s2",
    )  # fmt: skip


async def test_registering_a_taken_id_is_409_and_bad_fields_are_422_naming_them(
    api: httpx.AsyncClient, admin: dict[str, str], store: SqliteStore
) -> None:
    assert (await api.post("/api/v1/admin/users", json=KARI, headers=admin)).status_code == 201
    again = await api.post("/api/v1/admin/users", json={**KARI, "name": "Other"}, headers=admin)
    assert (again.status_code, again.json()) == (409, {"detail": "User kari.lie is already registered"})
    fresh = {**KARI, "user_id": "new.one"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({**fresh, "user_id": "bad id"}, "user_id"),
        ({**fresh, "roles": []}, "roles"),
        ({**fresh, "roles": ["janitor"]}, "roles"),
        ({**fresh, "site_ids": ["s/1"]}, "site_ids"),
        ({**fresh, "name": ""}, "name"),
        ({**fresh, "extra": 1}, "extra"),
    ]
    for body, field in cases:
        response = await api.post("/api/v1/admin/users", json=body, headers=admin)
        assert response.status_code == 422, body
        assert field in str(response.json()["detail"]), (field, response.json())
    star = await api.post("/api/v1/admin/users", json={**KARI, "user_id": "new.two", "site_ids": ["*"]}, headers=admin)
    assert star.status_code == 422 and 'site_ids: "*" (every site) is for a user holding the admin role only' in str(
        star.json()["detail"]
    )
    assert await store.get_user("new.one") is None and await store.get_user("new.two") is None  # nothing half-written


async def test_changing_roles_and_sites_applies_to_the_next_call(
    api: httpx.AsyncClient, admin: dict[str, str], token: TokenFactory
) -> None:
    await api.post("/api/v1/admin/users", json={**KARI, "site_ids": ["s1"]}, headers=admin)
    nurse = auth(token(Role.NURSE, ("s1", "s2"), user="kari.lie"))
    assert (await api.get("/api/v1/me", headers=nurse)).json()["site_ids"] == ["s1"]  # the registry bounds the token
    assert (await api.get("/api/v1/patients/p1", headers=nurse)).status_code == 200
    changed = await api.patch("/api/v1/admin/users/kari.lie", json={"site_ids": ["s2"]}, headers=admin)
    assert (changed.status_code, changed.json()["site_ids"], changed.json()["roles"]) == (
        200, ["s2"], ["coordinator", "nurse"],
    )  # fmt: skip
    assert (await api.get("/api/v1/patients/p1", headers=nurse)).status_code == 404
    assert (await api.get("/api/v1/patients/p3", headers=nurse)).status_code == 200
    demoted = await api.patch("/api/v1/admin/users/kari.lie", json={"roles": ["coordinator"]}, headers=admin)
    assert demoted.status_code == 200
    refused = await api.get("/api/v1/me", headers=nurse)
    assert (refused.status_code, refused.json()) == (
        401, {"detail": "Bearer token rejected: user kari.lie does not hold the role nurse (holds: coordinator)"},
    )  # fmt: skip
    unknown = await api.patch("/api/v1/admin/users/nobody", json={"name": "N"}, headers=admin)
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "User nobody is not registered"})


async def test_a_token_of_an_unknown_or_disabled_user_is_401_and_enabling_lets_them_back(
    api: httpx.AsyncClient, admin: dict[str, str], token: TokenFactory
) -> None:
    unknown = await api.get("/api/v1/me", headers=auth(token(Role.NURSE, ("s1",), user="ghost")))
    assert (unknown.status_code, unknown.json()) == (
        401,
        {"detail": "Bearer token rejected: user ghost is not registered"},
    )
    assert unknown.headers["www-authenticate"] == "Bearer"
    await api.post("/api/v1/admin/users", json=KARI, headers=admin)
    nurse = auth(token(Role.NURSE, ("s2",), user="kari.lie"))
    assert (await api.post("/api/v1/admin/users/kari.lie/disable", headers=admin)).json()["disabled_at"] is not None
    disabled = await api.get("/api/v1/me", headers=nurse)
    assert (disabled.status_code, disabled.json()) == (
        401,
        {"detail": "Bearer token rejected: user kari.lie is disabled"},
    )
    assert (await api.post("/api/v1/admin/users/kari.lie/enable", headers=admin)).json()["disabled_at"] is None
    assert (await api.get("/api/v1/me", headers=nurse)).status_code == 200


@pytest.mark.parametrize("role", [Role.NURSE, Role.DOCTOR, Role.TECHNICIAN])
async def test_only_an_admin_administers_people(api: httpx.AsyncClient, token: TokenFactory, role: Role) -> None:
    response = await api.post("/api/v1/admin/users", json=KARI, headers=auth(token(role, ("s1",))))
    assert (response.status_code, response.json()["detail"]) == (
        403, f"Role {role.value} may not do this; it needs one of: admin",
    )  # fmt: skip


async def test_an_admin_of_some_sites_may_not_administer_people_or_read_the_audit_log(
    api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore
) -> None:
    site_admin = auth(token(Role.ADMIN, ("s1",), user="admin-eva"))
    everywhere = {**KARI, "roles": ["admin"], "site_ids": ["*"]}
    for response in (
        await api.post("/api/v1/admin/users", json=everywhere, headers=site_admin),
        await api.get("/api/v1/admin/audit", headers=site_admin),
        await api.get("/api/v1/admin/patients/p1/access-report", headers=site_admin),
    ):
        assert (response.status_code, response.json()) == (
            403, {"detail": 'People and audit administration needs an all-sites admin token (sites: ["*"])'},
        )  # fmt: skip
    assert await store.get_user("kari.lie") is None


async def test_a_membership_added_grants_the_patient_and_ending_it_revokes_at_once(
    api: httpx.AsyncClient, admin: dict[str, str], store: SqliteStore, clock: FixedClock
) -> None:
    gp_user = {**KARI, "user_id": "gp-lind", "roles": ["doctor"], "site_ids": []}
    assert (await api.post("/api/v1/admin/users", json=gp_user, headers=admin)).status_code == 201
    gp = auth(token_of("gp-lind", clock))
    assert (await api.get("/api/v1/patients/p3", headers=gp)).status_code == 404
    body = {"member_id": "gp-lind", "role": "gp", "organisation": "Alta legekontor"}
    added = await api.post("/api/v1/admin/patients/p3/care-team", json=body, headers=admin)
    assert (added.status_code, added.json()) == (
        201, {**body, "patient_id": "p3", "start_at": "2025-01-15T08:00:00Z", "end_at": None},
    )  # fmt: skip
    assert (await api.get("/api/v1/patients/p3", headers=gp)).status_code == 200
    clock.advance(60)
    ended = await api.post("/api/v1/admin/patients/p3/care-team/gp-lind/end", json={}, headers=admin)
    assert (ended.status_code, ended.json()[0]["end_at"]) == (200, "2025-01-15T08:01:00Z")
    assert (await api.get("/api/v1/patients/p3", headers=gp)).status_code == 404
    again = await api.post("/api/v1/admin/patients/p3/care-team/gp-lind/end", json={}, headers=admin)
    assert (again.status_code, again.json()) == (
        404, {"detail": "gp-lind has no open membership in the care team of patient p3"},
    )  # fmt: skip
    actions = [(e.action, e.patient_id) for e in await store.list_audit() if e.action.startswith("admin.team")]
    assert actions == [("admin.team.end", "p3"), ("admin.team.add", "p3")]


async def test_membership_bad_input_is_4xx_naming_the_field_and_stores_nothing(
    api: httpx.AsyncClient, admin: dict[str, str], store: SqliteStore
) -> None:
    good = {"member_id": "gp-lind", "role": "gp", "organisation": "Alta legekontor"}
    for body, field in [
        ({**good, "role": "astrologer"}, "role"),
        ({**good, "member_id": "a b"}, "member_id"),
        ({**good, "start_at": (NOW + timedelta(days=1)).isoformat()}, "start_at"),
    ]:
        response = await api.post("/api/v1/admin/patients/p3/care-team", json=body, headers=admin)
        assert response.status_code == 422 and field in str(response.json()["detail"]), (field, response.json())
    unknown = await api.post("/api/v1/admin/patients/p9/care-team", json=good, headers=admin)
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "Patient p9 not found"})
    assert await store.memberships_of("gp-lind", at=NOW) == []


def token_of(user_id: str, clock: FixedClock, role: Role = Role.DOCTOR) -> str:
    return issue_token(SECRET, user_id=user_id, role=role, site_ids=["s1", "s2"], ttl_s=3600, now=clock())


async def test_the_audit_log_is_filtered_and_paged_and_the_access_report_says_who_saw_a_patient(
    api: httpx.AsyncClient, admin: dict[str, str], token: TokenFactory, clock: FixedClock
) -> None:
    for user in ("nurse-anne", "nurse-bo", "nurse-anne"):
        await api.get("/api/v1/patients/p1", headers=auth(token(Role.NURSE, ("s1",), user=user)))
        clock.advance(60)
    await api.get("/api/v1/patients/p1", headers=auth(token(Role.NURSE, ("s2",), user="nurse-bea")))  # refused
    first = await api.get("/api/v1/admin/audit", params={"patient_id": "p1", "limit": 2}, headers=admin)
    assert first.status_code == 200
    page = first.json()
    assert [(r["user_id"], r["action"], r["grant"]) for r in page["rows"]] == [
        ("nurse-bea", "denied.read.patient", ""),
        ("nurse-anne", "read.patient", "site:s1"),
    ]
    assert page["rows"][1]["source_address"] == "127.0.0.1" and len(page["rows"][1]["token_id"]) == 32
    rest = await api.get(
        "/api/v1/admin/audit", params={"patient_id": "p1", "before_id": page["next_before_id"]}, headers=admin
    )
    assert [r["user_id"] for r in rest.json()["rows"]] == ["nurse-bo", "nurse-anne"]
    assert rest.json()["next_before_id"] is None
    mine = await api.get("/api/v1/admin/audit", params={"user_id": "nurse-bo", "action": "read.patient"}, headers=admin)
    assert [r["patient_id"] for r in mine.json()["rows"]] == ["p1"]
    naive = await api.get("/api/v1/admin/audit", params={"since": "2025-01-15T08:00:00"}, headers=admin)
    assert (naive.status_code, naive.json()) == (422, {"detail": "since: give a time zone (e.g. Z)"})
    report = await api.get("/api/v1/admin/patients/p1/access-report", headers=admin)
    assert report.status_code == 200
    assert [(x["user_id"], x["grant"], x["refused"], x["accesses"]) for x in report.json()["lines"]] == [
        ("nurse-bea", "", True, 1),
        ("nurse-anne", "site:s1", False, 2),
        ("nurse-bo", "site:s1", False, 1),
    ]
    assert report.json()["lines"][1]["first_at"] == "2025-01-15T08:00:00Z"
    nurse = await api.get("/api/v1/admin/patients/p1/access-report", headers=auth(token(Role.DOCTOR, user="dr-berg")))
    assert nurse.status_code == 403  # the patient's own team's doctor included: docs/ACCESS.md says why
