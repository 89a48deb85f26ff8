"""Signing in on a page at a real OpenID Connect provider (oidc-provider on 127.0.0.1), in real headless Chromium:
authorisation code with PKCE as a public client, the provider's own login and consent pages, then back on the page
the user started from, signed in with an access token for this API."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from playwright.async_api import Page, expect

from core.clock import utc_now
from core.store.sqlite import SqliteStore
from core.types import Role, User
from dashboard_api.oidc import OidcConfig, OidcVerifier
from tests.dashboard_api.conftest import Served, build_app, offline_client, seed, serve
from tests.fixtures.browser import UI_TIMEOUT_MS
from tests.fixtures.oidc import AUDIENCE, CLIENTS, OidcProvider, PageClient, free_port, running_provider

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PAGE_CLIENT = "vaktrom-pages"
# Access tokens this short make the renewal tests quick: renewed 2 s before they end (a quarter of their life).
TOKEN_TTL_S = 8


@contextlib.asynccontextmanager
async def pages_signing_in_at_a_provider(
    store: SqliteStore, data_dir: Path, *, ttl_s: int = 300, refresh: bool = False
) -> AsyncIterator[tuple[Served, OidcProvider]]:
    """The API on a real port with its pages signing in at a provider whose public client redirects to its "/"
    (access tokens lasting `ttl_s`, refresh tokens with `refresh`); oidc-nurse (nurse, s1) is registered."""
    now = utc_now()
    await seed(store, now)
    await store.add_user(User("oidc-nurse", "Anne Sykepleier", (Role.NURSE,), "Demo kommune", ("s1",), now))
    port = free_port()  # the issuer must be known to the API before the provider can know the API's address
    config = OidcConfig(
        f"http://127.0.0.1:{port}",
        AUDIENCE,
        page_client_id=PAGE_CLIENT,
        page_scope="openid vaktrom",
        leeway_s=0.0,  # a token is refused the moment it ends, so the tests need not wait out the leeway
    )
    async with OidcVerifier(config) as verifier:
        app = build_app(store, offline_client(), topic_root="vaktrom-test/v1", clock=utc_now, oidc=verifier)
        async with serve(app) as served:
            page_client = PageClient(PAGE_CLIENT, (f"{served.base_url}/",), ttl_s=ttl_s, refresh=refresh)
            with running_provider(data_dir, CLIENTS, page_clients=[page_client], port=port) as provider:
                yield served, provider


async def to_the_providers_login(page: Page, served: Served, *, start: str = "/worklist") -> None:
    """The nurse opens a page (the worklist) and follows "Log in with your identity provider" to its login page."""
    await page.goto(f"{served.base_url}{start}")
    await page.locator("#provider-button").click(timeout=UI_TIMEOUT_MS)
    await expect(page.locator('input[name="login"]')).to_be_visible(timeout=UI_TIMEOUT_MS)


async def sign_in_as_the_nurse(page: Page) -> None:
    """The provider's own pages: any login name signs in as that user, then the consent."""
    await page.locator('input[name="login"]').fill("oidc-nurse")
    await page.locator('input[name="password"]').fill("whatever")
    await page.get_by_role("button", name="Sign-in").click()
    await page.get_by_role("button", name="Continue").click(timeout=UI_TIMEOUT_MS)


async def live_on_the_ward_signed_in_at_the_provider(page: Page, served: Served) -> None:
    """The nurse signs in at the provider from the ward page, and the ward is live."""
    await to_the_providers_login(page, served, start="/")
    await sign_in_as_the_nurse(page)
    await expect(page.locator("#status")).to_have_text("Live", timeout=UI_TIMEOUT_MS)


async def page_token_claims(page: Page) -> dict[str, Any]:
    token = await page.evaluate("sessionStorage.getItem('vaktrom.token')")
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


async def test_a_nurse_signs_in_at_the_identity_provider_and_is_back_on_the_page_she_started_from(
    store: SqliteStore, page: Page, tmp_path: Path
) -> None:
    async with pages_signing_in_at_a_provider(store, tmp_path) as (served, provider):
        await to_the_providers_login(page, served)
        await sign_in_as_the_nurse(page)

        await expect(page).to_have_url(f"{served.base_url}/worklist", timeout=UI_TIMEOUT_MS)
        await expect(page.locator("#who")).to_have_text("oidc-nurse · nurse", timeout=UI_TIMEOUT_MS)
        await expect(page.locator("#login")).to_be_hidden()
        claims = await page_token_claims(page)
        assert (claims["iss"], claims["aud"], claims["sub"]) == (provider.issuer, AUDIENCE, "oidc-nurse")
        assert await page.evaluate("sessionStorage.getItem('vaktrom.signIn')") is None  # the verifier is gone
        # No refresh token from this provider: nothing that outlives the access token is kept.
        assert await page.evaluate("sessionStorage.getItem('vaktrom.renewal')") is None


async def until_the_token_has_ended(page: Page, claims: dict[str, Any]) -> None:
    """Wait in the page until its first token has ended (and the server has closed its stream, at `exp`)."""
    ended_in_ms = (claims["exp"] + 1) * 1000 - time.time() * 1000
    await page.wait_for_timeout(max(0.0, ended_in_ms))


async def test_a_ward_page_left_open_renews_its_sign_in_and_its_stream_stays_live_past_each_tokens_end(
    store: SqliteStore, page: Page, tmp_path: Path
) -> None:
    sockets: list[str] = []
    page.on("websocket", lambda socket: sockets.append(socket.url))
    async with pages_signing_in_at_a_provider(store, tmp_path, ttl_s=TOKEN_TTL_S, refresh=True) as (served, provider):
        await live_on_the_ward_signed_in_at_the_provider(page, served)
        first = await page_token_claims(page)

        await until_the_token_has_ended(page, first)

        renewed = await page_token_claims(page)
        assert renewed["jti"] != first["jti"] and renewed["exp"] > first["exp"]
        assert (renewed["iss"], renewed["aud"], renewed["sub"]) == (provider.issuer, AUDIENCE, "oidc-nurse")
        # The server closed the stream when the first token ended; it came back with the renewed one.
        await expect(page.locator("#status")).to_have_text("Live", timeout=UI_TIMEOUT_MS)
        await expect(page.locator("#login")).to_be_hidden()
        await expect(page.locator("#who")).to_have_text("oidc-nurse · nurse")
        await expect(page.locator("#problem")).to_be_hidden()
        assert len(sockets) >= 2

        await until_the_token_has_ended(page, renewed)  # and again: the rotated refresh token renews too
        assert (await page_token_claims(page))["exp"] > renewed["exp"]
        await expect(page.locator("#status")).to_have_text("Live", timeout=UI_TIMEOUT_MS)


# A tab asleep: its timers of a second or more never run, so nothing renews ahead of time.
ASLEEP = """{
  const setTimeoutAwake = window.setTimeout;
  window.setTimeout = (callback, delayMs, ...args) =>
    delayMs >= 1000 ? 0 : setTimeoutAwake(callback, delayMs, ...args);
}"""


async def test_a_page_opened_again_after_its_token_ended_renews_it_and_is_signed_in(
    store: SqliteStore, page: Page, tmp_path: Path
) -> None:
    await page.add_init_script(ASLEEP)
    async with pages_signing_in_at_a_provider(store, tmp_path, ttl_s=TOKEN_TTL_S, refresh=True) as (served, _):
        await live_on_the_ward_signed_in_at_the_provider(page, served)
        first = await page_token_claims(page)
        await page.goto("about:blank")  # the tab's sessionStorage stays; nothing of the page runs meanwhile

        await until_the_token_has_ended(page, first)
        await page.goto(f"{served.base_url}/")

        # GET /me is refused with the ended token, renewed, and sent once more.
        await expect(page.locator("#who")).to_have_text("oidc-nurse · nurse", timeout=UI_TIMEOUT_MS)
        await expect(page.locator("#status")).to_have_text("Live", timeout=UI_TIMEOUT_MS)
        await expect(page.locator("#login")).to_be_hidden()
        assert (await page_token_claims(page))["exp"] > first["exp"]


async def renew_at_the_provider(provider: OidcProvider, refresh_token: str) -> httpx.Response:
    """What anyone holding `refresh_token` could ask the provider for: a new access token to this API."""
    grant = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": PAGE_CLIENT}
    async with httpx.AsyncClient() as client:
        return await client.post(f"{provider.issuer}/token", data={**grant, "resource": AUDIENCE})


async def test_logging_out_ends_the_refresh_token_at_the_provider(
    store: SqliteStore, page: Page, tmp_path: Path
) -> None:
    async with pages_signing_in_at_a_provider(store, tmp_path, refresh=True) as (served, provider):
        await live_on_the_ward_signed_in_at_the_provider(page, served)
        renewal = await page.evaluate("JSON.parse(sessionStorage.getItem('vaktrom.renewal'))")

        async with page.expect_response(lambda response: "/revocation" in response.url) as told:
            await page.locator("#logout").click()

        assert (await told.value).ok
        await expect(page.locator("#login")).to_be_visible()
        assert await page.evaluate("sessionStorage.getItem('vaktrom.renewal')") is None
        answer = await renew_at_the_provider(provider, renewal["refreshToken"])
        assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant")


async def test_a_provider_out_of_reach_at_renewal_is_said_and_the_login_shows_if_it_stays_down(
    store: SqliteStore, page: Page, tmp_path: Path
) -> None:
    async with pages_signing_in_at_a_provider(store, tmp_path, ttl_s=TOKEN_TTL_S, refresh=True) as (served, provider):
        await live_on_the_ward_signed_in_at_the_provider(page, served)
        provider.stop()  # down from before the renewal is due, two seconds before the token ends

        await expect(page.locator("#problem")).to_have_text(
            "Cannot reach the identity provider to renew your sign-in; trying again.", timeout=UI_TIMEOUT_MS
        )
        assert await page.evaluate("sessionStorage.getItem('vaktrom.renewal')") is not None  # kept for the retry
        await expect(page.locator("#login")).to_be_visible(timeout=UI_TIMEOUT_MS)  # still down when the token ended


async def test_a_renewal_the_provider_refuses_is_said_at_once_and_the_login_shows_when_the_token_ends(
    store: SqliteStore, page: Page, tmp_path: Path
) -> None:
    async with pages_signing_in_at_a_provider(store, tmp_path, ttl_s=TOKEN_TTL_S, refresh=True) as (served, provider):
        await live_on_the_ward_signed_in_at_the_provider(page, served)
        first = await page_token_claims(page)
        provider.restart(provider.keys)  # same keys and issuer, but every grant it gave is forgotten

        await expect(page.locator("#problem")).to_contain_text(
            "Your sign-in could not be renewed (the identity provider gave no token: ", timeout=UI_TIMEOUT_MS
        )
        await expect(page.locator("#status")).to_have_text("Live")  # until the token ends, the page still works
        await until_the_token_has_ended(page, first)
        await expect(page.locator("#login")).to_be_visible(timeout=UI_TIMEOUT_MS)
        assert await page.evaluate("sessionStorage.getItem('vaktrom.renewal')") is None


async def test_an_answer_to_a_sign_in_this_tab_never_started_is_refused_and_leaves_the_address_bar(
    store: SqliteStore, page: Page, tmp_path: Path
) -> None:
    async with pages_signing_in_at_a_provider(store, tmp_path) as (served, _):
        await page.goto(f"{served.base_url}/?code=stolen-code&state=made-up")

        await expect(page.locator("#problem")).to_have_text(
            "Sign-in failed: this answer from the identity provider is not for a sign-in started here; log in again",
            timeout=UI_TIMEOUT_MS,
        )
        await expect(page).to_have_url(f"{served.base_url}/")
        await expect(page.locator("#provider-button")).to_be_visible()
        assert await page.evaluate("sessionStorage.getItem('vaktrom.token')") is None


async def test_a_sign_in_cancelled_at_the_provider_is_shown_with_the_providers_reason(
    store: SqliteStore, page: Page, tmp_path: Path
) -> None:
    async with pages_signing_in_at_a_provider(store, tmp_path) as (served, _):
        await to_the_providers_login(page, served)
        await page.get_by_role("link", name="[ Cancel ]").click()

        await expect(page.locator("#problem")).to_have_text(
            "Sign-in failed: the identity provider refused: End-User aborted interaction", timeout=UI_TIMEOUT_MS
        )
        await expect(page).to_have_url(f"{served.base_url}/")
        await expect(page.locator("#who")).to_have_text("")
