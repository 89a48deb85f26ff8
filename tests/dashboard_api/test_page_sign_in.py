"""Signing in on a page at a real OpenID Connect provider (oidc-provider on 127.0.0.1), in real headless Chromium:
authorisation code with PKCE as a public client, the provider's own login and consent pages, then back on the page
the user started from, signed in with an access token for this API."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

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


@contextlib.asynccontextmanager
async def pages_signing_in_at_a_provider(
    store: SqliteStore, data_dir: Path
) -> AsyncIterator[tuple[Served, OidcProvider]]:
    """The API on a real port with its pages signing in at a provider whose public client redirects to its "/";
    oidc-nurse (nurse, s1) is registered."""
    now = utc_now()
    await seed(store, now)
    await store.add_user(User("oidc-nurse", "Anne Sykepleier", (Role.NURSE,), "Demo kommune", ("s1",), now))
    port = free_port()  # the issuer must be known to the API before the provider can know the API's address
    config = OidcConfig(f"http://127.0.0.1:{port}", AUDIENCE, page_client_id=PAGE_CLIENT, page_scope="openid vaktrom")
    async with OidcVerifier(config) as verifier:
        app = build_app(store, offline_client(), topic_root="vaktrom-test/v1", clock=utc_now, oidc=verifier)
        async with serve(app) as served:
            page_client = PageClient(PAGE_CLIENT, (f"{served.base_url}/",))
            with running_provider(data_dir, CLIENTS, page_clients=[page_client], port=port) as provider:
                yield served, provider


async def to_the_providers_login(page: Page, served: Served) -> None:
    """The nurse opens the worklist and follows "Log in with your identity provider" to its login page."""
    await page.goto(f"{served.base_url}/worklist")
    await page.locator("#provider-button").click(timeout=UI_TIMEOUT_MS)
    await expect(page.locator('input[name="login"]')).to_be_visible(timeout=UI_TIMEOUT_MS)


async def test_a_nurse_signs_in_at_the_identity_provider_and_is_back_on_the_page_she_started_from(
    store: SqliteStore, page: Page, tmp_path: Path
) -> None:
    async with pages_signing_in_at_a_provider(store, tmp_path) as (served, provider):
        await to_the_providers_login(page, served)
        # The provider's own pages: any login name signs in as that user, then the consent.
        await page.locator('input[name="login"]').fill("oidc-nurse")
        await page.locator('input[name="password"]').fill("whatever")
        await page.get_by_role("button", name="Sign-in").click()
        await page.get_by_role("button", name="Continue").click(timeout=UI_TIMEOUT_MS)

        await expect(page).to_have_url(f"{served.base_url}/worklist", timeout=UI_TIMEOUT_MS)
        await expect(page.locator("#who")).to_have_text("oidc-nurse · nurse", timeout=UI_TIMEOUT_MS)
        await expect(page.locator("#login")).to_be_hidden()
        token = await page.evaluate("sessionStorage.getItem('vaktrom.token')")
        claims = jwt.decode(token, options={"verify_signature": False})
        assert (claims["iss"], claims["aud"], claims["sub"]) == (provider.issuer, AUDIENCE, "oidc-nurse")
        assert await page.evaluate("sessionStorage.getItem('vaktrom.signIn')") is None  # the verifier is gone


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
