"""The OIDC token verifier against a real OpenID Connect provider (oidc-provider on 127.0.0.1): discovery, keys and
their rotation, issuer, audience, expiry, algorithms, and the claims that name the user."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from core.clock import utc_now
from dashboard_api.oidc import (
    JWKS_MAX_AGE_S,
    JWKS_REFETCH_MIN_INTERVAL_S,
    IdentityProviderUnavailable,
    OidcConfig,
    OidcVerifier,
    TokenRejected,
)
from tests.fixtures.oidc import AUDIENCE, PID_CLAIM, OidcProvider, rsa_key

LEEWAY_S = 30.0


def config(provider: OidcProvider, *, user_claim: str = "sub", role_claim: str | None = None) -> OidcConfig:
    return OidcConfig(provider.issuer, AUDIENCE, user_claim=user_claim, role_claim=role_claim, leeway_s=LEEWAY_S)


@pytest.fixture
async def verifier(oidc_provider: OidcProvider) -> AsyncIterator[OidcVerifier]:
    opened = OidcVerifier(config(oidc_provider))
    yield opened
    await opened.aclose()


def expiry_of(token: str) -> datetime:
    claims = jwt.decode(token, options={"verify_signature": False})
    return datetime.fromtimestamp(claims["exp"], UTC)


def forged(provider: OidcProvider, *, kid: str, alg: str = "RS256", key: object = None) -> str:
    """A token with the provider's issuer and our audience, signed by someone other than the provider."""
    now = int(utc_now().timestamp())
    claims = {"iss": provider.issuer, "aud": AUDIENCE, "sub": "nurse-anne", "iat": now, "exp": now + 300}
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})  # type: ignore[arg-type]


@pytest.mark.integration
async def test_rs256_and_es256_tokens_of_the_provider_name_their_user(
    verifier: OidcVerifier, oidc_provider: OidcProvider
) -> None:
    rs = oidc_provider.token("nurse-anne", audience=AUDIENCE)
    es = oidc_provider.token("dr-berg", audience=AUDIENCE)
    now = utc_now()

    anne, berg = await verifier.verify(rs, now=now), await verifier.verify(es, now=now)

    assert (jwt.get_unverified_header(rs)["alg"], jwt.get_unverified_header(es)["alg"]) == ("RS256", "ES256")
    assert (anne.user_id, anne.role, anne.expires_at) == ("nurse-anne", None, expiry_of(rs))
    assert anne.token_id == jwt.decode(rs, options={"verify_signature": False})["jti"]
    assert (berg.user_id, berg.expires_at) == ("dr-berg", expiry_of(es))


@pytest.mark.integration
async def test_the_user_and_role_come_from_the_configured_claims(oidc_provider: OidcProvider) -> None:
    verifier = OidcVerifier(config(oidc_provider, user_claim=PID_CLAIM, role_claim="vaktrom_role"))
    try:
        identity = await verifier.verify(oidc_provider.token("helseid-user", audience=AUDIENCE), now=utc_now())
        assert (identity.user_id, identity.role) == ("pseudo-kari", "doctor")

        with pytest.raises(TokenRejected) as rejected:
            await verifier.verify(oidc_provider.token("nurse-anne", audience=AUDIENCE), now=utc_now())
        assert str(rejected.value) == f"token's '{PID_CLAIM}' claim is not a user id (1-128 chars)"
    finally:
        await verifier.aclose()


@pytest.mark.integration
async def test_a_token_of_another_issuer_is_rejected_though_signed_with_the_same_key(
    verifier: OidcVerifier, oidc_provider: OidcProvider, other_oidc_provider: OidcProvider
) -> None:
    token = other_oidc_provider.token("nurse-anne", audience=AUDIENCE)
    assert jwt.get_unverified_header(token)["kid"] == "rsa-1"

    with pytest.raises(TokenRejected) as rejected:
        await verifier.verify(token, now=utc_now())

    assert str(rejected.value) == f"token is not issued by {oidc_provider.issuer}"


@pytest.mark.integration
async def test_a_token_for_another_audience_is_rejected(verifier: OidcVerifier, oidc_provider: OidcProvider) -> None:
    token = oidc_provider.token("nurse-anne", audience="https://journal.example/api")

    with pytest.raises(TokenRejected) as rejected:
        await verifier.verify(token, now=utc_now())

    assert str(rejected.value) == f"token is not meant for this API (audience {AUDIENCE})"


@pytest.mark.integration
async def test_an_expired_token_is_rejected_after_the_leeway(
    verifier: OidcVerifier, oidc_provider: OidcProvider
) -> None:
    token = oidc_provider.token("short-lived", audience=AUDIENCE)
    expires_at = expiry_of(token)

    within = await verifier.verify(token, now=expires_at + timedelta(seconds=LEEWAY_S - 1))
    with pytest.raises(TokenRejected) as rejected:
        await verifier.verify(token, now=expires_at + timedelta(seconds=LEEWAY_S + 1))

    assert within.user_id == "short-lived"
    assert str(rejected.value) == "token has expired"


@pytest.mark.integration
async def test_hs256_from_the_provider_and_alg_none_are_refused(
    verifier: OidcVerifier, oidc_provider: OidcProvider
) -> None:
    hs256 = oidc_provider.token("hs-user", audience=AUDIENCE)  # a provider misconfigured to sign with a shared secret
    unsigned = forged(oidc_provider, kid="rsa-1", alg="none")

    for token, alg in ((hs256, "HS256"), (unsigned, "none")):
        assert jwt.get_unverified_header(token)["alg"] == alg
        with pytest.raises(TokenRejected) as rejected:
            await verifier.verify(token, now=utc_now())
        assert str(rejected.value) == (
            f"token algorithm '{alg}' is not accepted; the identity provider signs with RS256 or ES256"
        )


@pytest.mark.integration
async def test_a_token_signed_with_a_key_the_provider_does_not_publish_is_rejected(
    verifier: OidcVerifier, oidc_provider: OidcProvider
) -> None:
    own_key = rsa.generate_private_key(65537, 2048)
    impostor = forged(oidc_provider, kid="rsa-1", key=own_key)  # the provider's key id, another key
    unknown = forged(oidc_provider, kid="rsa-unknown", key=own_key)

    for token, reason in (
        (impostor, "token is invalid: InvalidSignatureError"),
        (unknown, f"token is signed with key 'rsa-unknown', which {oidc_provider.issuer} does not publish"),
    ):
        with pytest.raises(TokenRejected) as rejected:
            await verifier.verify(token, now=utc_now())
        assert str(rejected.value) == reason


@pytest.mark.integration
async def test_a_rotated_key_is_picked_up_without_restart_and_the_old_one_verifies_while_published(
    rotating_oidc_provider: OidcProvider,
) -> None:
    verifier = OidcVerifier(config(rotating_oidc_provider))
    try:
        started = utc_now()
        before = rotating_oidc_provider.token("nurse-anne", audience=AUDIENCE)
        assert (await verifier.verify(before, now=started)).user_id == "nurse-anne"

        rotating_oidc_provider.restart(
            [rsa_key("rsa-2"), *rotating_oidc_provider.keys]
        )  # the new key signs; the old one is still published
        after = rotating_oidc_provider.token("nurse-anne", audience=AUDIENCE)
        assert jwt.get_unverified_header(after)["kid"] == "rsa-2"
        later = started + timedelta(seconds=JWKS_REFETCH_MIN_INTERVAL_S)

        assert (await verifier.verify(after, now=later)).user_id == "nurse-anne"
        assert (await verifier.verify(before, now=later)).user_id == "nurse-anne"
    finally:
        await verifier.aclose()


@pytest.mark.integration
async def test_unknown_keys_refetch_at_most_every_interval_and_a_withdrawn_key_stops_verifying(
    rotating_oidc_provider: OidcProvider,
) -> None:
    verifier = OidcVerifier(config(rotating_oidc_provider))
    try:
        started = utc_now()
        old = rotating_oidc_provider.token("nurse-anne", audience=AUDIENCE)
        await verifier.verify(old, now=started)

        rotating_oidc_provider.restart([rsa_key("rsa-3")])  # rsa-1 withdrawn at once (say, compromised)
        new = rotating_oidc_provider.token("nurse-anne", audience=AUDIENCE)
        too_soon = started + timedelta(seconds=JWKS_REFETCH_MIN_INTERVAL_S - 1)
        with pytest.raises(TokenRejected) as rejected:
            await verifier.verify(new, now=too_soon)
        assert (
            str(rejected.value)
            == f"token is signed with key 'rsa-3', which {rotating_oidc_provider.issuer} does not publish"
        )

        refetched = started + timedelta(seconds=JWKS_REFETCH_MIN_INTERVAL_S)
        assert (await verifier.verify(new, now=refetched)).user_id == "nurse-anne"
        with pytest.raises(TokenRejected) as withdrawn:
            await verifier.verify(old, now=refetched)
        assert (
            str(withdrawn.value)
            == f"token is signed with key 'rsa-1', which {rotating_oidc_provider.issuer} does not publish"
        )
    finally:
        await verifier.aclose()


@pytest.mark.integration
async def test_a_provider_outage_keeps_the_cached_keys_and_without_them_says_it_is_unavailable(
    rotating_oidc_provider: OidcProvider,
) -> None:
    token = rotating_oidc_provider.token("night-shift", audience=AUDIENCE)
    cached, fresh = OidcVerifier(config(rotating_oidc_provider)), OidcVerifier(config(rotating_oidc_provider))
    try:
        started = utc_now()
        await cached.verify(token, now=started)
        rotating_oidc_provider.stop()

        stale = started + timedelta(seconds=JWKS_MAX_AGE_S + 1)  # the keys are due for a refetch, which fails
        assert (await cached.verify(token, now=stale)).user_id == "night-shift"
        with pytest.raises(IdentityProviderUnavailable) as unavailable:
            await fresh.verify(token, now=started)
        assert str(unavailable.value) == (
            f"identity provider {rotating_oidc_provider.issuer} unavailable: "
            f"GET {rotating_oidc_provider.issuer}/.well-known/openid-configuration: ConnectError"
        )
    finally:
        await cached.aclose()
        await fresh.aclose()
