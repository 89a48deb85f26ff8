"""Signing in with tokens of a real OpenID Connect provider (oidc-provider on 127.0.0.1), end to end through the API:
the token's user is the registered user, everything else is refused with a status and a reason."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import jwt
import pytest
from fastapi import FastAPI

from core.clock import utc_now
from core.store.sqlite import SqliteStore
from core.types import Role, User
from dashboard_api.app import create_app
from dashboard_api.auth import issue_token
from dashboard_api.live import LiveHub
from dashboard_api.oidc import JWKS_REFETCH_MIN_INTERVAL_S, OidcConfig, OidcVerifier
from dashboard_api.ws import CloseCode
from tests.dashboard_api.conftest import SECRET, FixedClock, auth, offline_client, seed, serve
from tests.dashboard_api.test_routes_wards import CLINICAL_PAGES
from tests.dashboard_api.test_ws import closed_with, receive, ward_socket
from tests.fixtures.oidc import AUDIENCE, OidcProvider, rsa_key

LEEWAY_S = 30.0
ROLE_CLAIM = "vaktrom_role"


@dataclass(frozen=True, slots=True)
class OidcApi:
    app: FastAPI
    http: httpx.AsyncClient


@contextlib.asynccontextmanager
async def oidc_app(store: SqliteStore, provider: OidcProvider, clock: FixedClock) -> AsyncIterator[OidcApi]:
    """The API with tokens from `provider`, over a seeded store where oidc-nurse (nurse, s1) and oidc-doctor
    (doctor and specialist, s1 and s2) are registered; oidc-stranger is not."""
    await seed(store, clock())
    for user in (
        User("oidc-nurse", "Anne Sykepleier", (Role.NURSE,), "Demo kommune", ("s1",), clock()),
        User("oidc-doctor", "Berg Lege", (Role.DOCTOR, Role.SPECIALIST), "Sykehuset", ("s1", "s2"), clock()),
    ):
        await store.add_user(user)
    verifier = OidcVerifier(OidcConfig(provider.issuer, AUDIENCE, role_claim=ROLE_CLAIM, leeway_s=LEEWAY_S))
    client, topic_root = offline_client(), "vaktrom-test/v1"
    hub = LiveHub(client, topic_root=topic_root)
    app = create_app(
        store=store, auth_secret=SECRET, live=hub, publisher=client, topic_root=topic_root, clock=clock, oidc=verifier
    )
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://vaktrom.test") as http:
            yield OidcApi(app, http)
    finally:
        await verifier.aclose()


@pytest.fixture
def now_clock() -> FixedClock:
    """The provider signs with the real time; the API's clock starts there and moves only when a test says."""
    return FixedClock(utc_now())


@pytest.fixture
async def api(
    store: SqliteStore, oidc_provider: OidcProvider, now_clock: FixedClock
) -> AsyncIterator[httpx.AsyncClient]:
    async with oidc_app(store, oidc_provider, now_clock) as opened:
        yield opened.http


@pytest.mark.integration
async def test_a_provider_token_signs_in_its_registered_user_with_their_roles_and_sites(
    api: httpx.AsyncClient, oidc_provider: OidcProvider, store: SqliteStore
) -> None:
    nurse = oidc_provider.token("oidc-nurse", audience=AUDIENCE)
    doctor = oidc_provider.token("oidc-doctor", audience=AUDIENCE)  # asks for "specialist" in its role claim

    me_nurse = await api.get("/api/v1/me", headers=auth(nurse))
    me_doctor = await api.get("/api/v1/me", headers=auth(doctor))
    board = await api.get("/api/v1/wards/w1", headers=auth(nurse))

    assert (me_nurse.status_code, me_nurse.json()) == (
        200,
        {"user_id": "oidc-nurse", "role": "nurse", "site_ids": ["s1"], "pages": CLINICAL_PAGES},
    )
    assert (me_doctor.status_code, me_doctor.json()) == (
        200,
        {"user_id": "oidc-doctor", "role": "specialist", "site_ids": ["s1", "s2"], "pages": CLINICAL_PAGES},
    )
    assert board.status_code == 200 and board.json()["ward"]["ward_id"] == "w1"
    jti = jwt.decode(nurse, options={"verify_signature": False})["jti"]
    audit = [a for a in await store.list_audit(limit=50) if a.user_id == "oidc-nurse"]
    assert audit and {(a.role, a.token_id) for a in audit} == {(Role.NURSE, jti)}


@pytest.mark.integration
async def test_a_valid_token_of_a_user_nobody_registered_is_403(
    api: httpx.AsyncClient, oidc_provider: OidcProvider
) -> None:
    response = await api.get("/api/v1/me", headers=auth(oidc_provider.token("oidc-stranger", audience=AUDIENCE)))

    assert response.status_code == 403
    assert response.json() == {"detail": "user oidc-stranger is not registered"}


@pytest.mark.integration
async def test_vaktrom_own_hmac_tokens_are_refused_when_oidc_is_configured(
    api: httpx.AsyncClient, now_clock: FixedClock
) -> None:
    hmac = issue_token(SECRET, user_id="oidc-nurse", role=Role.NURSE, site_ids=["s1"], ttl_s=600, now=now_clock())

    response = await api.get("/api/v1/me", headers=auth(hmac))

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {
        "detail": "Bearer token rejected: token algorithm 'HS256' is not accepted; "
        "the identity provider signs with RS256 or ES256"
    }


@pytest.mark.integration
async def test_tokens_of_another_issuer_audience_or_algorithm_and_expired_ones_are_401(
    api: httpx.AsyncClient, oidc_provider: OidcProvider, other_oidc_provider: OidcProvider, now_clock: FixedClock
) -> None:
    cases = {
        "token is not issued by " + oidc_provider.issuer: other_oidc_provider.token("oidc-nurse", audience=AUDIENCE),
        f"token is not meant for this API (audience {AUDIENCE})": oidc_provider.token(
            "oidc-nurse", audience="https://journal.example/api"
        ),
        "token algorithm 'HS256' is not accepted; the identity provider signs with RS256 or ES256": (
            oidc_provider.token("hs-user", audience=AUDIENCE)
        ),
    }
    for reason, token in cases.items():
        response = await api.get("/api/v1/me", headers=auth(token))
        assert (response.status_code, response.json()) == (401, {"detail": f"Bearer token rejected: {reason}"})

    token = oidc_provider.token("oidc-nurse", audience=AUDIENCE)
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    now_clock.now = datetime.fromtimestamp(exp + LEEWAY_S + 1, UTC)
    expired = await api.get("/api/v1/me", headers=auth(token))
    assert (expired.status_code, expired.json()) == (401, {"detail": "Bearer token rejected: token has expired"})


@pytest.mark.integration
async def test_a_key_rotation_at_the_provider_is_picked_up_without_restarting_the_api(
    store: SqliteStore, rotating_oidc_provider: OidcProvider, now_clock: FixedClock
) -> None:
    provider = rotating_oidc_provider
    async with oidc_app(store, provider, now_clock) as opened:
        old = provider.token("oidc-nurse", audience=AUDIENCE)
        assert (await opened.http.get("/api/v1/me", headers=auth(old))).status_code == 200

        provider.restart([rsa_key("rsa-2"), *provider.keys])  # the new key signs; the old one is still published
        new = provider.token("oidc-nurse", audience=AUDIENCE)
        now_clock.advance(JWKS_REFETCH_MIN_INTERVAL_S)

        for token in (new, old):
            response = await opened.http.get("/api/v1/me", headers=auth(token))
            assert (response.status_code, response.json()["user_id"]) == (200, "oidc-nurse")


@pytest.mark.integration
async def test_without_the_providers_keys_the_api_answers_503_not_401(
    store: SqliteStore, rotating_oidc_provider: OidcProvider, now_clock: FixedClock
) -> None:
    token = rotating_oidc_provider.token("oidc-nurse", audience=AUDIENCE)
    rotating_oidc_provider.stop()
    async with oidc_app(store, rotating_oidc_provider, now_clock) as opened:
        response = await opened.http.get("/api/v1/me", headers=auth(token))

    assert response.status_code == 503
    assert response.json() == {"detail": "The identity provider cannot be reached to check your token; try again"}


@pytest.mark.integration
async def test_a_live_socket_takes_a_provider_token_and_refuses_an_hmac_one(
    store: SqliteStore, oidc_provider: OidcProvider, now_clock: FixedClock
) -> None:
    hmac = issue_token(SECRET, user_id="oidc-nurse", role=Role.NURSE, site_ids=["s1"], ttl_s=600, now=now_clock())
    async with oidc_app(store, oidc_provider, now_clock) as opened, serve(opened.app) as served:
        token = oidc_provider.token("oidc-nurse", audience=AUDIENCE)
        async with ward_socket(served, "/api/v1/ws/wards/w1", token) as socket:
            assert (await receive(socket))["type"] == "snapshot"
        async with ward_socket(served, "/api/v1/ws/wards/w1", hmac) as socket:
            refused = await closed_with(socket)
    assert refused == (
        CloseCode.UNAUTHENTICATED,
        "Token rejected: token algorithm 'HS256' is not accepted; the identity provider signs with RS256 or ES256",
    )


@pytest.mark.integration
@pytest.mark.parametrize("path", ["/api/v1/ws/wards/w1", "/api/v1/devices/live"])
async def test_every_live_stream_refuses_a_provider_token_of_an_unregistered_user_with_4403(
    store: SqliteStore, oidc_provider: OidcProvider, now_clock: FixedClock, path: str
) -> None:
    """As REST answers 403: the token is good, the user is not registered. A 4401 would send the page to sign in
    again, which cannot help. The technicians' fleet stream had a handshake of its own that answered 4401."""
    stranger = oidc_provider.token("oidc-stranger", audience=AUDIENCE)
    async with (
        oidc_app(store, oidc_provider, now_clock) as opened,
        serve(opened.app) as served,
        ward_socket(served, path, stranger) as socket,
    ):
        refused = await closed_with(socket)

    assert refused == (CloseCode.FORBIDDEN, "Token rejected: user oidc-stranger is not registered")
