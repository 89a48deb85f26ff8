"""OpenID Connect bearer tokens (HelseID in production): discovery, JWKS and rotation, RS256/ES256, audience, expiry."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt

__all__ = [
    "ALGORITHMS",
    "JWKS_MAX_AGE_S",
    "JWKS_REFETCH_MIN_INTERVAL_S",
    "IdentityProviderUnavailable",
    "OidcConfig",
    "OidcIdentity",
    "OidcVerifier",
    "TokenRejected",
]

logger = logging.getLogger(__name__)

# Asymmetric only: a provider's tokens are checked with its public keys. HS256 would need a secret shared with the
# provider, and "none" is no signature at all; both are refused whatever the token's header says.
ALGORITHMS = ("RS256", "ES256")
_CURVE_OF = {"ES256": "P-256"}
# The provider answers in milliseconds; a slow one must not hold a nurse's request (nor the key lock) for long.
HTTP_TIMEOUT_S = 5.0
# A token signed with a key we have not seen triggers one refetch of the provider's keys, at most this often per API
# node: a rotated key is picked up within seconds, and a flood of made-up key ids costs the provider 6 requests/min.
JWKS_REFETCH_MIN_INTERVAL_S = 10.0
# Keys are refetched at least this often, so a key the provider withdrew (compromised, retired) stops verifying.
JWKS_MAX_AGE_S = 3600.0
# Keys and discovery documents are a few kB; a provider (or whatever answers in its place) sending more is refused.
_MAX_DOCUMENT_BYTES = 512 * 1024
_MAX_ID_LENGTH = 128


class TokenRejected(ValueError):
    """The token is not one this provider issued for this API, now. The message says why, never echoes the token."""


class IdentityProviderUnavailable(Exception):
    """The provider's discovery document or keys could not be read: not the caller's fault (503)."""

    def __init__(self, issuer: str, reason: str) -> None:
        super().__init__(f"identity provider {issuer} unavailable: {reason}")
        self.issuer = issuer
        self.reason = reason


@dataclass(frozen=True, slots=True)
class OidcConfig:
    """What a token must say to be accepted (Settings.oidc_*)."""

    issuer: str
    audience: str
    user_claim: str = "sub"  # HelseID: e.g. "helseid://claims/identity/pid_pseudonym"
    role_claim: str | None = None  # when set, the role the user acts in (one of their registered roles)
    leeway_s: float = 30.0
    page_client_id: str | None = None  # the public client the pages sign in as (authorisation code with PKCE)
    page_scope: str = "openid"


@dataclass(frozen=True, slots=True)
class OidcIdentity:
    """Who a verified token names, before the user registry is asked."""

    user_id: str
    role: str | None  # the role claim's value, when a role claim is configured and present
    token_id: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class _KeySet:
    keys: dict[str, jwt.PyJWK]  # by kid
    fetched_at: datetime


class OidcVerifier:
    """Verifies access tokens of one issuer for one audience. Keys are cached in memory and refetched when a token
    names an unknown key (rate-limited) or the cache is older than JWKS_MAX_AGE_S. Close it (`aclose`, or use it
    as an async context manager) when done."""

    def __init__(self, config: OidcConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self._http = httpx.AsyncClient(timeout=HTTP_TIMEOUT_S, transport=transport, follow_redirects=False)
        self._lock = asyncio.Lock()  # one fetch at a time: a burst of new-key tokens costs one refetch
        self._key_set: _KeySet | None = None
        self._attempted_at: datetime | None = None

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> OidcVerifier:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def verify(self, token: str, *, now: datetime) -> OidcIdentity:
        """The identity a token names. Raises TokenRejected, or IdentityProviderUnavailable when its keys cannot be
        read. `now` (the app's clock) also paces the key refetches."""
        alg, kid = _signing_of(token)
        key = await self._key(kid, now=now)
        if key.algorithm_name != alg:
            raise TokenRejected(f"token says {alg} but key {kid!r} is an {key.algorithm_name} key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.config.audience,
                issuer=self.config.issuer,
                # exp and iat are checked against `now` below (the app's clock), not the wall clock.
                options={"require": ["iss", "aud", "exp", "iat"], "verify_exp": False, "verify_iat": False},
            )
        except jwt.MissingRequiredClaimError as exc:
            raise TokenRejected(f"token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidIssuerError:
            raise TokenRejected(f"token is not issued by {self.config.issuer}") from None
        except jwt.InvalidAudienceError:
            raise TokenRejected(f"token is not meant for this API (audience {self.config.audience})") from None
        except jwt.InvalidTokenError as exc:
            raise TokenRejected(f"token is invalid: {type(exc).__name__}") from None
        return self._identity(claims, token, now=now)

    def _identity(self, claims: dict[str, Any], token: str, *, now: datetime) -> OidcIdentity:
        exp, iat = claims["exp"], claims["iat"]
        if not isinstance(exp, int | float) or not isinstance(iat, int | float):
            raise TokenRejected("token times are not numbers")
        timestamp, leeway_s = now.timestamp(), self.config.leeway_s
        if timestamp > exp + leeway_s:
            raise TokenRejected("token has expired")
        if iat > timestamp + leeway_s:
            raise TokenRejected("token is issued in the future")
        user_id = claims.get(self.config.user_claim)
        if not isinstance(user_id, str) or not 0 < len(user_id) <= _MAX_ID_LENGTH:
            raise TokenRejected(f"token's {self.config.user_claim!r} claim is not a user id (1-{_MAX_ID_LENGTH} chars)")
        role = None
        if self.config.role_claim is not None:
            role_value = claims.get(self.config.role_claim)
            if role_value is not None and not isinstance(role_value, str):
                raise TokenRejected(f"token's {self.config.role_claim!r} claim is not a string")
            role = role_value
        jti = claims.get("jti")
        # A token without an id is named by its hash in the audit trail (never by the token itself).
        token_id = jti if isinstance(jti, str) and jti else hashlib.sha256(token.encode()).hexdigest()[:32]
        return OidcIdentity(user_id=user_id, role=role, token_id=token_id, expires_at=datetime.fromtimestamp(exp, UTC))

    async def _key(self, kid: str, *, now: datetime) -> jwt.PyJWK:
        async with self._lock:
            key_set = self._key_set
            if key_set is None or now - key_set.fetched_at > timedelta(seconds=JWKS_MAX_AGE_S):
                key_set = await self._refetch(now, why="no keys yet" if key_set is None else "keys are old")
            elif kid not in key_set.keys and self._may_refetch(now):
                key_set = await self._refetch(now, why=f"unknown key {kid!r}")
        key = key_set.keys.get(kid)
        if key is None:
            raise TokenRejected(f"token is signed with key {kid!r}, which {self.config.issuer} does not publish")
        return key

    def _may_refetch(self, now: datetime) -> bool:
        attempted = self._attempted_at
        return attempted is None or now - attempted >= timedelta(seconds=JWKS_REFETCH_MIN_INTERVAL_S)

    async def _refetch(self, now: datetime, *, why: str) -> _KeySet:
        """Discovery, then the keys it points to. On failure keeps the keys it had, if any (a provider outage does
        not log everyone out), else raises IdentityProviderUnavailable."""
        if not self._may_refetch(now):
            if self._key_set is None:
                raise IdentityProviderUnavailable(self.config.issuer, "its keys could not be read a moment ago")
            return self._key_set
        self._attempted_at = now
        try:
            discovery = await self._get_json(f"{self.config.issuer.rstrip('/')}/.well-known/openid-configuration")
            keys = _usable_keys(await self._get_json(_jwks_uri(discovery, self.config.issuer)))
        except IdentityProviderUnavailable as exc:
            if self._key_set is None:
                raise
            logger.warning("Kept %d cached keys of %s: %s", len(self._key_set.keys), self.config.issuer, exc.reason)
            return self._key_set
        logger.info("Fetched %d signing keys of %s (%s): %s", len(keys), self.config.issuer, why, ", ".join(keys))
        self._key_set = _KeySet(keys=keys, fetched_at=now)
        return self._key_set

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with asyncio.timeout(HTTP_TIMEOUT_S):
                response = await self._http.get(url, headers={"Accept": "application/json"})
        except (httpx.HTTPError, TimeoutError) as exc:
            raise IdentityProviderUnavailable(self.config.issuer, f"GET {url}: {type(exc).__name__}") from None
        if response.status_code != httpx.codes.OK:
            raise IdentityProviderUnavailable(self.config.issuer, f"GET {url} answered {response.status_code}")
        if len(response.content) > _MAX_DOCUMENT_BYTES:
            raise IdentityProviderUnavailable(self.config.issuer, f"GET {url} sent over {_MAX_DOCUMENT_BYTES} bytes")
        try:
            document = response.json()
        except ValueError:
            raise IdentityProviderUnavailable(self.config.issuer, f"GET {url} did not send JSON") from None
        if not isinstance(document, dict):
            raise IdentityProviderUnavailable(self.config.issuer, f"GET {url} did not send a JSON object")
        return document


def _signing_of(token: str) -> tuple[str, str]:
    """The token's algorithm and key id, once the algorithm is one we accept."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise TokenRejected("token is not a signed JWT") from None
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALGORITHMS:
        raise TokenRejected(f"token algorithm {alg!r} is not accepted; the identity provider signs with RS256 or ES256")
    if not isinstance(kid, str) or not kid:
        raise TokenRejected("token names no signing key ('kid')")
    return str(alg), kid


def _jwks_uri(discovery: dict[str, Any], issuer: str) -> str:
    # OpenID Connect Discovery §4.3: the document's issuer must be exactly the one configured, or it is not ours.
    if discovery.get("issuer") != issuer:
        raise IdentityProviderUnavailable(issuer, f"its discovery document names issuer {discovery.get('issuer')!r}")
    uri = discovery.get("jwks_uri")
    if not isinstance(uri, str) or urlsplit(uri).scheme != urlsplit(issuer).scheme:
        raise IdentityProviderUnavailable(issuer, f"its jwks_uri {uri!r} is not a {urlsplit(issuer).scheme} URL")
    return uri


def _usable_keys(jwks: dict[str, Any]) -> dict[str, jwt.PyJWK]:
    """Signing keys for RS256 (RSA) and ES256 (P-256) by kid; others (encryption keys, other curves) are skipped."""
    keys: dict[str, jwt.PyJWK] = {}
    for entry in jwks.get("keys") or []:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig" or not isinstance(entry.get("kid"), str):
            continue
        alg = entry.get("alg") or ("RS256" if entry.get("kty") == "RSA" else "ES256")
        if alg not in ALGORITHMS or (alg in _CURVE_OF and entry.get("crv") != _CURVE_OF[alg]):
            continue
        try:
            keys[entry["kid"]] = jwt.PyJWK(entry, algorithm=alg)
        except jwt.PyJWTError as exc:
            logger.warning("Skipped key %r of the identity provider: %s", entry["kid"], exc)
    return keys
