"""The OIDC token verifier against a real OpenID Connect provider (oidc-provider on 127.0.0.1): discovery, keys and
their rotation, issuer, audience, expiry, algorithms, and the claims that name the user."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
from tests.fixtures.oidc import OidcClient, OidcProvider, ec_key, rsa_key, running_provider

AUDIENCE = "https://vaktrom.test/api"
PID_CLAIM = "helseid://claims/identity/pid_pseudonym"
CLIENTS = (
    OidcClient("nurse-anne"),
    OidcClient("dr-berg", alg="ES256"),
    OidcClient("hs-user", alg="HS256"),
    OidcClient("short-lived", ttl_s=60),
    OidcClient("night-shift", ttl_s=8 * 3600),
    OidcClient("helseid-user", claims={PID_CLAIM: "pseudo-kari", "vaktrom_role": "doctor"}),
)
LEEWAY_S = 30.0


@pytest.fixture(scope="session")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    """The identity provider for the session: an RSA and a P-256 key."""
    keys = [rsa_key("rsa-1"), ec_key("ec-1")]
    with running_provider(tmp_path_factory.mktemp("oidc"), CLIENTS, keys) as running:
        yield running


@pytest.fixture(scope="session")
def other_provider(tmp_path_factory: pytest.TempPathFactory, provider: OidcProvider) -> Iterator[OidcProvider]:
    """Another issuer with the very same keys and clients: only `iss` tells its tokens apart."""
    with running_provider(tmp_path_factory.mktemp("oidc-other"), CLIENTS, provider.keys) as running:
        yield running


@pytest.fixture
def rotating(tmp_path: Path) -> Iterator[OidcProvider]:
    """A provider of this test's own, to rotate keys on."""
    with running_provider(tmp_path, CLIENTS, [rsa_key("rsa-1")]) as running:
        yield running


def config(provider: OidcProvider, *, user_claim: str = "sub", role_claim: str | None = None) -> OidcConfig:
    return OidcConfig(provider.issuer, AUDIENCE, user_claim=user_claim, role_claim=role_claim, leeway_s=LEEWAY_S)


@pytest.fixture
async def verifier(provider: OidcProvider) -> AsyncIterator[OidcVerifier]:
    opened = OidcVerifier(config(provider))
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
    verifier: OidcVerifier, provider: OidcProvider
) -> None:
    rs = provider.token("nurse-anne", audience=AUDIENCE)
    es = provider.token("dr-berg", audience=AUDIENCE)
    now = utc_now()

    anne, berg = await verifier.verify(rs, now=now), await verifier.verify(es, now=now)

    assert (jwt.get_unverified_header(rs)["alg"], jwt.get_unverified_header(es)["alg"]) == ("RS256", "ES256")
    assert (anne.user_id, anne.role, anne.expires_at) == ("nurse-anne", None, expiry_of(rs))
    assert anne.token_id == jwt.decode(rs, options={"verify_signature": False})["jti"]
    assert (berg.user_id, berg.expires_at) == ("dr-berg", expiry_of(es))


@pytest.mark.integration
async def test_the_user_and_role_come_from_the_configured_claims(provider: OidcProvider) -> None:
    verifier = OidcVerifier(config(provider, user_claim=PID_CLAIM, role_claim="vaktrom_role"))
    try:
        identity = await verifier.verify(provider.token("helseid-user", audience=AUDIENCE), now=utc_now())
        assert (identity.user_id, identity.role) == ("pseudo-kari", "doctor")

        with pytest.raises(TokenRejected) as rejected:
            await verifier.verify(provider.token("nurse-anne", audience=AUDIENCE), now=utc_now())
        assert str(rejected.value) == f"token's '{PID_CLAIM}' claim is not a user id (1-128 chars)"
    finally:
        await verifier.aclose()


@pytest.mark.integration
async def test_a_token_of_another_issuer_is_rejected_though_signed_with_the_same_key(
    verifier: OidcVerifier, provider: OidcProvider, other_provider: OidcProvider
) -> None:
    token = other_provider.token("nurse-anne", audience=AUDIENCE)
    assert jwt.get_unverified_header(token)["kid"] == "rsa-1"

    with pytest.raises(TokenRejected) as rejected:
        await verifier.verify(token, now=utc_now())

    assert str(rejected.value) == f"token is not issued by {provider.issuer}"


@pytest.mark.integration
async def test_a_token_for_another_audience_is_rejected(verifier: OidcVerifier, provider: OidcProvider) -> None:
    token = provider.token("nurse-anne", audience="https://journal.example/api")

    with pytest.raises(TokenRejected) as rejected:
        await verifier.verify(token, now=utc_now())

    assert str(rejected.value) == f"token is not meant for this API (audience {AUDIENCE})"


@pytest.mark.integration
async def test_an_expired_token_is_rejected_after_the_leeway(verifier: OidcVerifier, provider: OidcProvider) -> None:
    token = provider.token("short-lived", audience=AUDIENCE)
    expires_at = expiry_of(token)

    within = await verifier.verify(token, now=expires_at + timedelta(seconds=LEEWAY_S - 1))
    with pytest.raises(TokenRejected) as rejected:
        await verifier.verify(token, now=expires_at + timedelta(seconds=LEEWAY_S + 1))

    assert within.user_id == "short-lived"
    assert str(rejected.value) == "token has expired"


@pytest.mark.integration
async def test_hs256_from_the_provider_and_alg_none_are_refused(verifier: OidcVerifier, provider: OidcProvider) -> None:
    hs256 = provider.token("hs-user", audience=AUDIENCE)  # a provider misconfigured to sign with a shared secret
    unsigned = forged(provider, kid="rsa-1", alg="none")

    for token, alg in ((hs256, "HS256"), (unsigned, "none")):
        assert jwt.get_unverified_header(token)["alg"] == alg
        with pytest.raises(TokenRejected) as rejected:
            await verifier.verify(token, now=utc_now())
        assert str(rejected.value) == (
            f"token algorithm '{alg}' is not accepted; the identity provider signs with RS256 or ES256"
        )


@pytest.mark.integration
async def test_a_token_signed_with_a_key_the_provider_does_not_publish_is_rejected(
    verifier: OidcVerifier, provider: OidcProvider
) -> None:
    own_key = rsa.generate_private_key(65537, 2048)
    impostor = forged(provider, kid="rsa-1", key=own_key)  # the provider's key id, another key
    unknown = forged(provider, kid="rsa-unknown", key=own_key)

    for token, reason in (
        (impostor, "token is invalid: InvalidSignatureError"),
        (unknown, f"token is signed with key 'rsa-unknown', which {provider.issuer} does not publish"),
    ):
        with pytest.raises(TokenRejected) as rejected:
            await verifier.verify(token, now=utc_now())
        assert str(rejected.value) == reason


@pytest.mark.integration
async def test_a_rotated_key_is_picked_up_without_restart_and_the_old_one_verifies_while_published(
    rotating: OidcProvider,
) -> None:
    verifier = OidcVerifier(config(rotating))
    try:
        started = utc_now()
        before = rotating.token("nurse-anne", audience=AUDIENCE)
        assert (await verifier.verify(before, now=started)).user_id == "nurse-anne"

        rotating.restart([rsa_key("rsa-2"), *rotating.keys])  # the new key signs; the old one is still published
        after = rotating.token("nurse-anne", audience=AUDIENCE)
        assert jwt.get_unverified_header(after)["kid"] == "rsa-2"
        later = started + timedelta(seconds=JWKS_REFETCH_MIN_INTERVAL_S)

        assert (await verifier.verify(after, now=later)).user_id == "nurse-anne"
        assert (await verifier.verify(before, now=later)).user_id == "nurse-anne"
    finally:
        await verifier.aclose()


@pytest.mark.integration
async def test_unknown_keys_refetch_at_most_every_interval_and_a_withdrawn_key_stops_verifying(
    rotating: OidcProvider,
) -> None:
    verifier = OidcVerifier(config(rotating))
    try:
        started = utc_now()
        old = rotating.token("nurse-anne", audience=AUDIENCE)
        await verifier.verify(old, now=started)

        rotating.restart([rsa_key("rsa-3")])  # rsa-1 withdrawn at once (say, compromised)
        new = rotating.token("nurse-anne", audience=AUDIENCE)
        too_soon = started + timedelta(seconds=JWKS_REFETCH_MIN_INTERVAL_S - 1)
        with pytest.raises(TokenRejected) as rejected:
            await verifier.verify(new, now=too_soon)
        assert str(rejected.value) == f"token is signed with key 'rsa-3', which {rotating.issuer} does not publish"

        refetched = started + timedelta(seconds=JWKS_REFETCH_MIN_INTERVAL_S)
        assert (await verifier.verify(new, now=refetched)).user_id == "nurse-anne"
        with pytest.raises(TokenRejected) as withdrawn:
            await verifier.verify(old, now=refetched)
        assert str(withdrawn.value) == f"token is signed with key 'rsa-1', which {rotating.issuer} does not publish"
    finally:
        await verifier.aclose()


@pytest.mark.integration
async def test_a_provider_outage_keeps_the_cached_keys_and_without_them_says_it_is_unavailable(
    rotating: OidcProvider,
) -> None:
    token = rotating.token("night-shift", audience=AUDIENCE)
    cached, fresh = OidcVerifier(config(rotating)), OidcVerifier(config(rotating))
    try:
        started = utc_now()
        await cached.verify(token, now=started)
        rotating.stop()

        stale = started + timedelta(seconds=JWKS_MAX_AGE_S + 1)  # the keys are due for a refetch, which fails
        assert (await cached.verify(token, now=stale)).user_id == "night-shift"
        with pytest.raises(IdentityProviderUnavailable) as unavailable:
            await fresh.verify(token, now=started)
        assert str(unavailable.value) == (
            f"identity provider {rotating.issuer} unavailable: "
            f"GET {rotating.issuer}/.well-known/openid-configuration: ConnectError"
        )
    finally:
        await cached.aclose()
        await fresh.aclose()
