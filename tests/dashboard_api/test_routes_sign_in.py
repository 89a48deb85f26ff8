"""GET /api/v1/sign-in: how the pages sign in, answered without a token; and the pages' CSP lets them reach the
provider they sign in at, and nothing else."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest

from core.clock import utc_now
from core.store.sqlite import SqliteStore
from dashboard_api.oidc import OidcConfig, OidcVerifier
from dashboard_api.security import security_headers
from tests.dashboard_api.conftest import build_app, offline_client

ISSUER = "https://helseid-sts.test.nhn.no"
AUDIENCE = "kommune:vaktrom"


@contextlib.asynccontextmanager
async def api_with(store: SqliteStore, config: OidcConfig | None) -> AsyncIterator[httpx.AsyncClient]:
    verifier = None if config is None else OidcVerifier(config)
    app = build_app(store, offline_client(), topic_root="vaktrom-test/v1", clock=utc_now, oidc=verifier)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://vaktrom.test") as http:
            yield http
    finally:
        if verifier is not None:
            await verifier.aclose()


def connect_src(response: httpx.Response) -> str:
    policy = dict(p.strip().split(" ", 1) for p in response.headers["content-security-policy"].split(";"))
    return policy["connect-src"]


async def test_with_a_page_client_the_pages_learn_where_to_sign_in_without_a_token(store: SqliteStore) -> None:
    config = OidcConfig(ISSUER, AUDIENCE, page_client_id="kommune:vaktrom-pages", page_scope="openid kommune:api")
    async with api_with(store, config) as http:
        response = await http.get("/api/v1/sign-in")
        page = await http.get("/worklist")

    assert response.status_code == 200
    assert response.json() == {
        "provider": {
            "issuer": ISSUER,
            "client_id": "kommune:vaktrom-pages",
            "scope": "openid kommune:api",
            "resource": AUDIENCE,
        }
    }
    assert connect_src(page) == "'self' https://helseid-sts.test.nhn.no"  # discovery and token endpoint only


@pytest.mark.parametrize(
    "config",
    [None, OidcConfig(ISSUER, AUDIENCE)],
    ids=["vaktrom's own tokens", "oidc without a page client"],
)
async def test_without_a_page_client_the_pages_take_a_pasted_token_and_connect_only_home(
    store: SqliteStore, config: OidcConfig | None
) -> None:
    async with api_with(store, config) as http:
        response = await http.get("/api/v1/sign-in")
        page = await http.get("/")

    assert (response.status_code, response.json()) == (200, {"provider": None})
    assert connect_src(page) == "'self'"


@pytest.mark.parametrize(
    "origin",
    [
        "https://sts.test/path",
        "https://sts.test; script-src *",
        "javascript:alert(1)",
        "https://a b",
        "https://sts.test\n",
    ],
)
def test_a_connect_origin_that_is_not_a_bare_origin_is_refused(origin: str) -> None:
    with pytest.raises(ValueError, match="not an origin"):
        security_headers(connect_to=[origin])


def test_a_loopback_ipv6_provider_is_an_origin_the_pages_may_connect_to() -> None:
    csp = dict(security_headers(connect_to=["http://[::1]:9000"]))[b"content-security-policy"]
    assert b"connect-src 'self' http://[::1]:9000;" in csp
