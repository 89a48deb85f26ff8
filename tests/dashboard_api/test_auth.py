"""Tokens, and that every route family refuses a missing token (401) and a token for another site (403)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import jwt
import pytest

from core.types import Role
from dashboard_api.auth import InvalidToken, issue_token, verify_token
from tests.dashboard_api.conftest import NOW, SECRET, Seeded, TokenFactory, auth


def test_issued_token_names_user_role_sites_and_expiry() -> None:
    token = issue_token(SECRET, user_id="nurse-anne", role=Role.NURSE, site_ids=["s1", "s3"], ttl_s=600, now=NOW)
    principal = verify_token(SECRET, token, now=NOW + timedelta(seconds=599))
    assert (principal.user_id, principal.role, principal.site_ids) == ("nurse-anne", Role.NURSE, ("s1", "s3"))
    assert principal.expires_at == NOW + timedelta(seconds=600)
    assert principal.may_see("s3") and not principal.may_see("s2")
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert set(claims) == {"sub", "role", "sites", "iat", "exp", "jti"}


def test_expired_token_is_rejected_after_the_leeway() -> None:
    token = issue_token(SECRET, user_id="u", role=Role.NURSE, site_ids=["s1"], ttl_s=60, now=NOW)
    with pytest.raises(InvalidToken, match="expired"):
        verify_token(SECRET, token, now=NOW + timedelta(seconds=60 + 31))


def test_token_signed_with_another_key_is_rejected() -> None:
    token = issue_token("another-secret-" + "y" * 32, user_id="u", role=Role.ADMIN, site_ids=["*"], ttl_s=60, now=NOW)
    with pytest.raises(InvalidToken, match="InvalidSignatureError"):
        verify_token(SECRET, token, now=NOW)


def test_token_without_alg_hs256_is_rejected() -> None:
    unsigned = jwt.encode(
        {"sub": "u", "role": "admin", "sites": ["*"], "iat": 0, "exp": 2**40, "jti": "x"}, None, "none"
    )
    with pytest.raises(InvalidToken):
        verify_token(SECRET, unsigned, now=NOW)


def test_only_an_admin_token_may_name_all_sites() -> None:
    with pytest.raises(ValueError, match="only an admin token"):
        issue_token(SECRET, user_id="u", role=Role.DOCTOR, site_ids=["*"], ttl_s=60, now=NOW)
    forged = jwt.encode(
        {"sub": "u", "role": "doctor", "sites": ["*"], "iat": int(NOW.timestamp()), "exp": 2**40, "jti": "x"},
        SECRET,
        "HS256",
    )
    with pytest.raises(InvalidToken, match="only an admin token"):
        verify_token(SECRET, forged, now=NOW)
    admin = issue_token(SECRET, user_id="root", role=Role.ADMIN, site_ids=["*"], ttl_s=60, now=NOW)
    assert verify_token(SECRET, admin, now=NOW).may_see("any-site")


def test_token_missing_a_claim_says_which() -> None:
    token = jwt.encode({"sub": "u", "role": "nurse", "iat": int(NOW.timestamp()), "exp": 2**40, "jti": "x"}, SECRET)
    with pytest.raises(InvalidToken, match="'sites'"):
        verify_token(SECRET, token, now=NOW)


# One route of each family, each touching site s1 data; (method, path, json body).
CLINICAL_ROUTES = [
    ("GET", "/api/v1/sites/s1/wards", None),
    ("GET", "/api/v1/wards/w1", None),
    ("GET", "/api/v1/alerts?ward_id=w1", None),
    ("POST", "/api/v1/alerts/{alert_id}/ack", None),
    ("GET", "/api/v1/patients/p1", None),
    ("GET", "/api/v1/patients/p1/vitals", None),
    ("GET", "/api/v1/patients/p1/scores", None),
    ("GET", "/api/v1/patients/p1/observations", None),
    ("POST", "/api/v1/patients/p1/observations", {"consciousness": "A"}),
]
DEVICE_ROUTES = [
    ("GET", "/api/v1/devices?site_id=s1", None),
    (
        "POST",
        "/api/v1/devices",
        {"device_id": "new-1", "site_id": "s1", "kind": "thermometer", "model": "T", "serial": "SN-1"},
    ),
    ("POST", "/api/v1/devices/mon-9/pair", {"patient_id": "p1"}),
    ("POST", "/api/v1/devices/mon-1/unpair", None),
]
ALL_ROUTES = [*CLINICAL_ROUTES, ("PUT", "/api/v1/patients/p1/spo2-scale", {"scale": 2}), *DEVICE_ROUTES]
ALL_ROUTES += [("GET", "/api/v1/sites", None), ("GET", "/api/v1/me", None)]


async def _call(
    api: httpx.AsyncClient, seeded: Seeded, route: tuple[str, str, object], headers: dict[str, str]
) -> httpx.Response:
    method, path, body = route
    return await api.request(method, path.format(alert_id=seeded.alert_id), json=body, headers=headers)


@pytest.mark.parametrize("route", ALL_ROUTES, ids=lambda r: f"{r[0]} {r[1]}")
async def test_every_route_without_a_token_is_401_with_bearer_challenge(
    api: httpx.AsyncClient, seeded: Seeded, route: tuple[str, str, object]
) -> None:
    response = await _call(api, seeded, route, {})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "Missing bearer token: send 'Authorization: Bearer <token>'"}


@pytest.mark.parametrize("route", ALL_ROUTES, ids=lambda r: f"{r[0]} {r[1]}")
async def test_every_route_with_a_forged_token_is_401(
    api: httpx.AsyncClient, seeded: Seeded, route: tuple[str, str, object]
) -> None:
    forged = issue_token("not-our-secret-" + "z" * 32, user_id="x", role=Role.ADMIN, site_ids=["*"], ttl_s=60, now=NOW)
    response = await _call(api, seeded, route, auth(forged))
    assert response.status_code == 401
    assert response.json()["detail"].startswith("Bearer token rejected: token is invalid")


@pytest.mark.parametrize("route", CLINICAL_ROUTES, ids=lambda r: f"{r[0]} {r[1]}")
async def test_clinical_routes_answer_another_sites_resource_as_if_it_did_not_exist(
    api: httpx.AsyncClient, seeded: Seeded, token: TokenFactory, route: tuple[str, str, object]
) -> None:
    other_site = auth(token(Role.NURSE, ("s2",)))
    response = await _call(api, seeded, route, other_site)
    method, path, body = route
    if path.startswith("/api/v1/sites/"):  # the caller named the site: refusing it confirms nothing new
        assert (response.status_code, response.json()) == (
            403,
            {"detail": "Your token does not grant access to site s1"},
        )
        return
    made_up = path.replace("w1", "w-none").replace("p1", "p-none").replace("{alert_id}", "999999")
    unknown = await _call(api, seeded, (method, made_up, body), other_site)
    assert (response.status_code, unknown.status_code) == (404, 404)
    seen = response.json()["detail"]
    assert seen == unknown.json()["detail"].replace("w-none", "w1").replace("p-none", "p1").replace(
        "999999", str(seeded.alert_id)
    )
    assert "s1" not in seen


@pytest.mark.parametrize("route", DEVICE_ROUTES, ids=lambda r: f"{r[0]} {r[1]}")
async def test_device_routes_refuse_a_technician_of_another_site(
    api: httpx.AsyncClient, seeded: Seeded, token: TokenFactory, route: tuple[str, str, object]
) -> None:
    response = await _call(api, seeded, route, auth(token(Role.TECHNICIAN, ("s2",), user="tech-tom")))
    assert response.status_code == 403
    assert response.json() == {"detail": "Your token does not grant access to site s1"}


@pytest.mark.parametrize("route", CLINICAL_ROUTES[1:], ids=lambda r: f"{r[0]} {r[1]}")
async def test_a_technician_reads_no_patient_data(
    api: httpx.AsyncClient, seeded: Seeded, token: TokenFactory, route: tuple[str, str, object]
) -> None:
    response = await _call(api, seeded, route, auth(token(Role.TECHNICIAN, ("s1",), user="tech-tom")))
    assert response.status_code == 403
    assert response.json()["detail"].startswith("Role technician may not do this; it needs one of: nurse, doctor")


@pytest.mark.parametrize("route", DEVICE_ROUTES, ids=lambda r: f"{r[0]} {r[1]}")
async def test_a_nurse_manages_no_devices(
    api: httpx.AsyncClient, seeded: Seeded, token: TokenFactory, route: tuple[str, str, object]
) -> None:
    response = await _call(api, seeded, route, auth(token(Role.NURSE, ("s1",))))
    assert response.status_code == 403
    assert response.json() == {"detail": "Role nurse may not do this; it needs one of: technician, admin"}


async def test_only_doctors_and_specialists_set_the_spo2_scale(
    api: httpx.AsyncClient, seeded: Seeded, token: TokenFactory
) -> None:
    response = await api.put("/api/v1/patients/p1/spo2-scale", json={"scale": 2}, headers=auth(token(Role.NURSE)))
    assert response.status_code == 403
    assert response.json() == {"detail": "Role nurse may not do this; it needs one of: doctor, specialist"}


async def test_an_expired_token_is_401_saying_so(api: httpx.AsyncClient) -> None:
    expired = issue_token(SECRET, user_id="u", role=Role.NURSE, site_ids=["s1"], ttl_s=60, now=NOW - timedelta(hours=1))
    response = await api.get("/api/v1/sites", headers=auth(expired))
    assert response.status_code == 401
    assert response.json() == {"detail": "Bearer token rejected: token has expired"}
