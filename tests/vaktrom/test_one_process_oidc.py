"""`vaktrom run` with an OpenID Connect provider configured: the parts are wired to it, as a user meets them."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from core.types import Role
from devices.demo import demo_unit
from tests.fixtures.oidc import AUDIENCE, OidcProvider
from tests.vaktrom.conftest import embedded_settings, one_process


@pytest.mark.integration
async def test_run_takes_the_providers_tokens_and_refuses_its_own(
    tmp_path: Path, oidc_provider: OidcProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = embedded_settings(tmp_path, simulate=False).model_copy(
        update={
            "oidc_issuer": oidc_provider.issuer,
            "oidc_audience": AUDIENCE,
            "oidc_page_client_id": "vaktrom-pages",
            "oidc_page_scope": "openid vaktrom",
        }
    )
    async with one_process(settings) as system, httpx.AsyncClient(base_url=system.base_url, timeout=10) as api:
        banner = capsys.readouterr().out
        provider_token = oidc_provider.token("nurse.demo", audience=AUDIENCE)
        own_token = system.token_of(Role.NURSE)  # what the banner would have printed without OIDC

        signed_in = await api.get("/api/v1/me", headers={"Authorization": f"Bearer {provider_token}"})
        refused = await api.get("/api/v1/me", headers={"Authorization": f"Bearer {own_token}"})
        sign_in = await api.get("/api/v1/sign-in")  # what the pages ask first, with no token

    assert f"Sign in through {oidc_provider.issuer} (VAKTROM_OIDC_ISSUER); there are no demo login links." in banner
    assert "#token=" not in banner
    who = {key: signed_in.json()[key] for key in ("user_id", "role", "site_ids")}  # pages: tests/dashboard_api
    assert (signed_in.status_code, who) == (
        200,
        {"user_id": "nurse.demo", "role": "nurse", "site_ids": sorted(demo_unit().site_ids)},
    )
    assert refused.status_code == 401
    assert refused.json() == {
        "detail": "Bearer token rejected: token algorithm 'HS256' is not accepted; "
        "the identity provider signs with RS256 or ES256"
    }
    provider = {
        "issuer": oidc_provider.issuer,
        "client_id": "vaktrom-pages",
        "scope": "openid vaktrom",
        "resource": AUDIENCE,
    }
    assert (sign_in.status_code, sign_in.json()) == (200, {"provider": provider})
