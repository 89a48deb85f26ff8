"""How the pages sign in: the one call that needs no token, since a page asks it before anyone has signed in. It
says only what the provider's own discovery document and the pages' public client already make public."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from dashboard_api.oidc import OidcConfig

__all__ = ["ProviderSignInOut", "SignInOut", "page_sign_in_origins", "router"]

router = APIRouter()


class ProviderSignInOut(BaseModel):
    """Authorisation code with PKCE at `issuer`, as the public client `client_id`, redirected back to this node's
    "/", asking for `scope` and an access token for `resource` (the API's audience)."""

    model_config = ConfigDict(frozen=True)
    issuer: str
    client_id: str
    scope: str
    resource: str


class SignInOut(BaseModel):
    model_config = ConfigDict(frozen=True)
    provider: ProviderSignInOut | None  # None: the pages take a token from a login link or the form only


def _provider(config: OidcConfig | None) -> ProviderSignInOut | None:
    if config is None or config.page_client_id is None:
        return None
    return ProviderSignInOut(
        issuer=config.issuer, client_id=config.page_client_id, scope=config.page_scope, resource=config.audience
    )


def page_sign_in_origins(config: OidcConfig | None) -> tuple[str, ...]:
    """Origins the pages fetch from to sign in (the provider's discovery document and token endpoint live at its
    issuer's origin), for the Content-Security-Policy."""
    provider = _provider(config)
    if provider is None:
        return ()
    parts = urlsplit(provider.issuer)
    return (f"{parts.scheme}://{parts.netloc}",)


@router.get("/sign-in", response_model=SignInOut, summary="How the pages sign in (no token needed)")
async def sign_in(request: Request) -> SignInOut:
    oidc = request.app.state.oidc
    return SignInOut(provider=_provider(None if oidc is None else oidc.config))
