"""The OpenID Connect settings: an https issuer with its audience, refused otherwise naming the variable."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from core.settings import Settings

ISSUER = "https://helseid-sts.test.nhn.no"
AUDIENCE = "kommune:vaktrom"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("VAKTROM_"):
            monkeypatch.delenv(name)


def test_oidc_is_off_by_default_and_on_with_an_issuer_and_audience_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().oidc is False
    monkeypatch.setenv("VAKTROM_OIDC_ISSUER", ISSUER)
    monkeypatch.setenv("VAKTROM_OIDC_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("VAKTROM_OIDC_USER_CLAIM", "helseid://claims/identity/pid_pseudonym")

    settings = Settings()

    assert settings.oidc is True
    assert (settings.oidc_issuer, settings.oidc_audience) == (ISSUER, AUDIENCE)
    assert (settings.oidc_user_claim, settings.oidc_role_claim, settings.oidc_leeway_s) == (
        "helseid://claims/identity/pid_pseudonym",
        None,
        30,
    )


def test_with_oidc_an_external_deployment_needs_no_hmac_secret() -> None:
    settings = Settings(database_url="postgresql://db/vaktrom", oidc_issuer=ISSUER, oidc_audience=AUDIENCE)
    assert settings.auth_secret is None


@pytest.mark.parametrize(
    "issuer",
    ["http://helseid-sts.test.nhn.no", "helseid-sts.test.nhn.no", "https://", "https://sts.test/?tenant=1"],
)
def test_an_issuer_that_is_not_an_https_url_is_refused_naming_the_variable(issuer: str) -> None:
    with pytest.raises(ValidationError) as exc:
        Settings(oidc_issuer=issuer, oidc_audience=AUDIENCE)
    assert "VAKTROM_OIDC_ISSUER must be the provider's https:// issuer URL (http on loopback only)" in str(exc.value)


def test_a_loopback_http_issuer_is_allowed_for_a_provider_on_this_machine() -> None:
    assert Settings(oidc_issuer="http://127.0.0.1:9000", oidc_audience=AUDIENCE).oidc is True


def test_issuer_and_audience_go_together() -> None:
    with pytest.raises(ValidationError) as without_audience:
        Settings(oidc_issuer=ISSUER)
    with pytest.raises(ValidationError) as without_issuer:
        Settings(oidc_audience=AUDIENCE)

    assert "VAKTROM_OIDC_AUDIENCE is required when VAKTROM_OIDC_ISSUER is set" in str(without_audience.value)
    assert "VAKTROM_OIDC_AUDIENCE is set but VAKTROM_OIDC_ISSUER is not" in str(without_issuer.value)


def test_the_pages_sign_in_as_a_public_client_asking_for_the_scopes_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAKTROM_OIDC_ISSUER", ISSUER)
    monkeypatch.setenv("VAKTROM_OIDC_AUDIENCE", AUDIENCE)
    assert (Settings().oidc_page_client_id, Settings().oidc_page_scope) == (None, "openid")
    monkeypatch.setenv("VAKTROM_OIDC_PAGE_CLIENT_ID", "kommune:vaktrom-pages")
    monkeypatch.setenv("VAKTROM_OIDC_PAGE_SCOPE", "openid kommune:vaktrom/api")

    settings = Settings()

    assert (settings.oidc_page_client_id, settings.oidc_page_scope) == (
        "kommune:vaktrom-pages",
        "openid kommune:vaktrom/api",
    )


def test_a_page_client_without_an_issuer_is_refused_naming_the_variable() -> None:
    with pytest.raises(ValidationError) as exc:
        Settings(oidc_page_client_id="vaktrom-pages")
    assert "VAKTROM_OIDC_PAGE_CLIENT_ID is set but VAKTROM_OIDC_ISSUER is not" in str(exc.value)


@pytest.mark.parametrize("scope", ["", "openid  api", " openid", "openid\napi", "openid\u00e6"])
def test_a_page_scope_that_is_not_space_separated_scope_tokens_is_refused(scope: str) -> None:
    with pytest.raises(ValidationError, match="oidc_page_scope"):
        Settings(oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_page_scope=scope)
