"""Signed bearer tokens (HS256) and the FastAPI dependencies that authenticate and authorise every call.

A token names a user and asks for one role (and, for HMAC tokens, some sites). The user registry decides: every call
reads the user's row (one query by key; nothing cached, so a disable on any node refuses the next call on every
node), refuses an unknown or disabled user and a role the user does not hold, and bounds the sites by the user's."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import jwt
from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from core.clock import Clock
from core.store import Store
from core.types import AuditEntry, Role, User
from dashboard_api.oidc import IdentityProviderUnavailable, OidcVerifier, TokenRejected

__all__ = [
    "ALL_SITES",
    "CLINICAL_ROLES",
    "DEVICE_ROLES",
    "DisabledUser",
    "IdentityUnavailable",
    "InvalidToken",
    "Principal",
    "RoleNotHeld",
    "UnknownUser",
    "UnregisteredUser",
    "authenticate",
    "authorise_site",
    "current_principal",
    "issue_token",
    "registered_principal",
    "require_roles",
    "verify_token",
]

logger = logging.getLogger(__name__)

ALGORITHM = "HS256"
ALL_SITES = "*"  # only an admin token may carry it
# Tokens are checked against the clock of the node that verifies them; allow a little skew between nodes.
LEEWAY_S = 30
_MAX_ID_LENGTH = 128
_MAX_SITES = 500  # a token is sent with every call; a larger set belongs in a group claim (later: OIDC)

# Who sees patient data, who manages devices (brief: role rules of the dashboard API).
CLINICAL_ROLES: tuple[Role, ...] = (Role.NURSE, Role.DOCTOR, Role.SPECIALIST, Role.COORDINATOR)
DEVICE_ROLES: tuple[Role, ...] = (Role.TECHNICIAN, Role.ADMIN)


class InvalidToken(ValueError):
    """The token is missing a claim, expired, forged or malformed. The message says which, never echoes the token."""


class UnknownUser(InvalidToken):
    """The token's user is not in the registry."""


class DisabledUser(InvalidToken):
    """The token's user is registered but disabled."""


class RoleNotHeld(InvalidToken):
    """The token asks for a role the registry does not give the user."""


class UnregisteredUser(UnknownUser):
    """A valid token of the identity provider names a user nobody registered: they are who they say, and may not
    come in (403)."""


class IdentityUnavailable(InvalidToken):
    """The identity provider's keys cannot be read, so the token cannot be checked now (503, not the caller's fault)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: from a verified token."""

    user_id: str
    role: Role
    site_ids: tuple[str, ...]
    token_id: str
    expires_at: datetime
    source_address: str = ""  # the client's address, for the audit log

    @property
    def all_sites(self) -> bool:
        return self.role is Role.ADMIN and ALL_SITES in self.site_ids

    def may_see(self, site_id: str) -> bool:
        return self.all_sites or site_id in self.site_ids

    def visible(self, site_ids: Sequence[str]) -> list[str]:
        return [s for s in site_ids if self.may_see(s)]


def issue_token(secret: str, *, user_id: str, role: Role, site_ids: Sequence[str], ttl_s: int, now: datetime) -> str:
    """A signed HS256 token. `site_ids` may be ["*"] for an admin only; raises ValueError on unsafe claims."""
    _check_claims(user_id, role, list(site_ids))
    if ttl_s <= 0:
        raise ValueError(f"ttl_s must be positive, not {ttl_s}")
    issued_at = int(now.timestamp())
    claims = {
        "sub": user_id,
        "role": role.value,
        "sites": list(site_ids),
        "iat": issued_at,
        "exp": issued_at + ttl_s,
        "jti": secrets.token_hex(16),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(secret: str, token: str, *, now: datetime) -> Principal:
    """The principal a token names. Raises InvalidToken saying what is wrong."""
    try:
        # PyJWT would check `exp` against the wall clock; we check it against `now` in _principal_from.
        claims = _decode(secret, token)
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"token lacks the {exc.claim!r} claim") from None
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"token is invalid: {type(exc).__name__}") from None
    return _principal_from(claims, now)


def _decode(secret: str, token: str) -> dict[str, Any]:
    return jwt.decode(
        token,
        secret,
        algorithms=[ALGORITHM],
        options={"require": ["sub", "role", "sites", "exp", "iat", "jti"], "verify_exp": False, "verify_iat": False},
    )


def _principal_from(claims: dict[str, Any], now: datetime) -> Principal:
    timestamp = now.timestamp()
    exp, iat = claims["exp"], claims["iat"]
    if not isinstance(exp, int | float) or not isinstance(iat, int | float):
        raise InvalidToken("token times are not numbers")
    if timestamp > exp + LEEWAY_S:
        raise InvalidToken("token has expired")
    if iat > timestamp + LEEWAY_S:
        raise InvalidToken("token is issued in the future")
    user_id, role_value, sites, jti = claims["sub"], claims["role"], claims["sites"], claims["jti"]
    if not isinstance(user_id, str) or not isinstance(jti, str):
        raise InvalidToken("token subject or id is not a string")
    try:
        role = Role(role_value)
    except ValueError:
        raise InvalidToken(f"token role {role_value!r} is not one of {[r.value for r in Role]}") from None
    if not isinstance(sites, list) or not all(isinstance(s, str) for s in sites):
        raise InvalidToken("token sites is not a list of site ids")
    try:
        _check_claims(user_id, role, sites)
    except ValueError as exc:
        raise InvalidToken(str(exc)) from None
    expires_at = datetime.fromtimestamp(exp, UTC)
    return Principal(user_id=user_id, role=role, site_ids=tuple(sites), token_id=jti, expires_at=expires_at)


def _check_claims(user_id: str, role: Role, site_ids: list[str]) -> None:
    if not user_id or len(user_id) > _MAX_ID_LENGTH:
        raise ValueError(f"user id must be 1-{_MAX_ID_LENGTH} characters")
    if len(site_ids) > _MAX_SITES:
        raise ValueError(f"a token names at most {_MAX_SITES} sites")
    if ALL_SITES in site_ids and role is not Role.ADMIN:
        raise ValueError(f"only an admin token may name all sites ('*'), not a {role.value} token")


# --- FastAPI dependencies ---------------------------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="A vaktrom token (`vaktrom token --user U --role nurse --site S`).")


def _unauthenticated(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


async def registered_principal(
    store: Store,
    *,
    user_id: str,
    role: Role | None,
    site_ids: Sequence[str] | None,
    token_id: str,
    expires_at: datetime,
    source_address: str = "",
) -> Principal:
    """The principal a verified token stands for, as the registry says now (one query by key).

    `role` is the role the token asks for (None: the user's only role); `site_ids` the sites it asks for (None:
    all of the user's). Raises UnknownUser, DisabledUser or RoleNotHeld (InvalidToken subclasses) saying which.
    """
    user = await store.get_user(user_id)
    if user is None:
        raise UnknownUser(f"user {user_id} is not registered")
    if user.disabled_at is not None:
        raise DisabledUser(f"user {user_id} is disabled")
    if role is None:
        if len(user.roles) != 1:
            raise RoleNotHeld(f"user {user_id} holds several roles; the token must ask for one")
        role = user.roles[0]
    if role not in user.roles:
        held = ", ".join(r.value for r in user.roles) or "none"
        raise RoleNotHeld(f"user {user_id} does not hold the role {role.value} (holds: {held})")
    sites = _sites_within(user, role, site_ids)
    return Principal(user_id, role, sites, token_id=token_id, expires_at=expires_at, source_address=source_address)


def _sites_within(user: User, role: Role, requested: Sequence[str] | None) -> tuple[str, ...]:
    """The sites a token may use: those it asks for that the user serves. "*" in the registry counts for an admin
    acting as admin only; a token asking for "*" gets everything the user serves."""
    everywhere = role is Role.ADMIN and ALL_SITES in user.site_ids
    served = tuple(s for s in user.site_ids if s != ALL_SITES)
    if requested is None or ALL_SITES in requested:
        return (ALL_SITES,) if everywhere else served
    return tuple(requested) if everywhere else tuple(s for s in requested if s in served)


def _source_of(connection: HTTPConnection) -> str:
    return connection.client.host if connection.client is not None else ""


async def authenticate(connection: HTTPConnection, token: str) -> Principal:
    """Verify a token with the app's secret and clock (set by create_app), then resolve it in the registry. Raises
    InvalidToken (or a subclass) saying what is wrong."""
    verifier: OidcVerifier | None = connection.app.state.oidc
    if verifier is not None:  # an identity provider issues the tokens; vaktrom's own are refused
        return await _oidc_principal(connection, verifier, token)
    secret: str = connection.app.state.auth_secret
    clock: Clock = connection.app.state.clock
    store: Store = connection.app.state.context.store
    claimed = verify_token(secret, token, now=clock())
    return await registered_principal(
        store,
        user_id=claimed.user_id,
        role=claimed.role,
        site_ids=claimed.site_ids,
        token_id=claimed.token_id,
        expires_at=claimed.expires_at,
        source_address=_source_of(connection),
    )


async def _oidc_principal(connection: HTTPConnection, verifier: OidcVerifier, token: str) -> Principal:
    """The seam from an OIDC token to a registered user: its claims name the user (VAKTROM_OIDC_USER_CLAIM) and
    perhaps the role (VAKTROM_OIDC_ROLE_CLAIM); the registry says the rest, sites included."""
    clock: Clock = connection.app.state.clock
    store: Store = connection.app.state.context.store
    try:
        identity = await verifier.verify(token, now=clock())
    except TokenRejected as exc:
        raise InvalidToken(str(exc)) from None
    except IdentityProviderUnavailable as exc:
        raise IdentityUnavailable(str(exc)) from None
    try:
        role = None if identity.role is None else Role(identity.role)
    except ValueError:
        raise InvalidToken(f"token role {identity.role!r} is not one of {[r.value for r in Role]}") from None
    try:
        return await registered_principal(
            store,
            user_id=identity.user_id,
            role=role,
            site_ids=None,  # the user's sites, from the registry
            token_id=identity.token_id,
            expires_at=identity.expires_at,
            source_address=_source_of(connection),
        )
    except UnknownUser as exc:
        raise UnregisteredUser(str(exc)) from None


async def current_principal(
    connection: HTTPConnection,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """401 with `WWW-Authenticate: Bearer` when the token is missing or not valid, or its user may not sign in."""
    if credentials is None:
        raise _unauthenticated("Missing bearer token: send 'Authorization: Bearer <token>'")
    try:
        return await authenticate(connection, credentials.credentials)
    except IdentityUnavailable as exc:
        logger.warning("Could not check a token: %s", exc)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "The identity provider cannot be reached to check your token; try again",
            headers={"Retry-After": "10"},
        ) from None
    except UnregisteredUser as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None
    except InvalidToken as exc:
        raise _unauthenticated(f"Bearer token rejected: {exc}") from None


def require_roles(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the principal, or 403 naming the roles that may make this call (audited as refused, naming
    the patient when the path has one)."""
    allowed = ", ".join(r.value for r in roles)

    async def dependency(
        connection: HTTPConnection, principal: Annotated[Principal, Depends(current_principal)]
    ) -> Principal:
        if principal.role not in roles:
            await _audit_refused_role(connection, principal)
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"Role {principal.role.value} may not do this; it needs one of: {allowed}"
            )
        return principal

    return dependency


async def _audit_refused_role(connection: HTTPConnection, principal: Principal) -> None:
    clock: Clock = connection.app.state.clock
    store: Store = connection.app.state.context.store
    patient_id = connection.path_params.get("patient_id")
    entry = AuditEntry(
        at=clock(),
        user_id=principal.user_id,
        role=principal.role,
        action="denied.role",
        subject=connection.url.path,
        detail=f"role {principal.role.value}",
        patient_id=patient_id if isinstance(patient_id, str) else None,
        source_address=principal.source_address,
        token_id=principal.token_id,
    )
    await store.audit(entry)


def authorise_site(principal: Principal, site_id: str) -> None:
    """403 unless the token names this site."""
    if not principal.may_see(site_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"Your token does not grant access to site {site_id}")
