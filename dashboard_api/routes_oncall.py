"""REST for admins setting a unit up: escalation policies per site and priority, on-call rotations and overrides,
webhook endpoints and how each person is reached; and, for everyone on the unit, who is on call now."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status

from alerts.rosters import coverage_gaps, on_call, validate_override, validate_rotation
from alerts.webhooks import validate_webhook_url
from core.errors import InvalidRoster, NotFound
from core.escalation import (
    ContactPoint,
    EscalationPolicy,
    EscalationStep,
    EscalationTarget,
    TargetKind,
    WebhookEndpoint,
)
from core.oncall import OnCallRole, RosterOverride, Rotation
from core.store import Store
from core.types import AlertPriority, Role
from dashboard_api.access import ApiContext, Ctx, audit
from dashboard_api.auth import CLINICAL_ROLES, Principal, authorise_site, require_roles
from dashboard_api.bodies import ContactPointIn, EscalationPolicyIn, OverrideIn, RotationIn, WebhookEndpointIn
from dashboard_api.id_params import RowId
from dashboard_api.schemas_escalation import (
    ContactPointOut,
    EscalationPolicyOut,
    OnCallOut,
    RotationOut,
    WebhookEndpointOut,
)
from dashboard_api.schemas_oncall import OnCallGapOut, OnCallGapsOut, RoleGapsOut

__all__ = ["GAPS_DEFAULT_WINDOW", "GAPS_MAX_WINDOW", "gaps_window", "read_gaps", "router"]

router = APIRouter()

Admin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
OnUnit = Annotated[Principal, Depends(require_roles(*CLINICAL_ROLES, Role.ADMIN))]
_ID = Annotated[str, Query(min_length=1, max_length=64)]
_ENDPOINT_ID = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
_PERSON_ID = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")]
# How far from now `GET .../on-call?at=` looks: a complaint about a night years ago can still ask who was on call,
# and nobody plans rosters further ahead; beyond it the date arithmetic of a shift nears datetime's limits (500).
ON_CALL_REACH = timedelta(days=10 * 366)
# `GET .../on-call/gaps`: by default the next two weeks, the stretch a roster is checked over before it is published;
# at most 62 days (two of the longest months) per request, which bounds the shifts one answer computes.
GAPS_DEFAULT_WINDOW = timedelta(days=14)
GAPS_MAX_WINDOW = timedelta(days=62)


def _invalid(exc: InvalidRoster | ValueError) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc))


async def _all_sites(ctx: ApiContext, principal: Principal, action: str, subject: str) -> None:
    """Gateways and contact points belong to no site: they carry every site's pages (naming the patient) and the
    answers that acknowledge alerts. An admin of some sites could reroute another's, so, like users and the audit
    log (docs/ACCESS.md), they are changed with an all-sites admin token only; a refusal is audited."""
    if principal.all_sites:
        return
    await audit(ctx, principal, f"denied.{action}", subject, f"sites {','.join(principal.site_ids)}", grant="")
    raise HTTPException(
        status.HTTP_403_FORBIDDEN,
        'Gateways and contact points serve every site: changing them needs an all-sites admin token (sites: ["*"])',
    )


async def _site(ctx: ApiContext, principal: Principal, site_id: str) -> None:
    if site_id not in {site.site_id for site in await ctx.store.list_sites()}:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Site {site_id} not found")
    authorise_site(principal, site_id)


# --- escalation policies ---------------------------------------------------------------------------------------
@router.get(
    "/sites/{site_id}/escalation-policies",
    response_model=list[EscalationPolicyOut],
    summary="The site's escalation policy for each priority (vaktrom's default where it has set none)",
)
async def list_policies(site_id: str, ctx: Ctx, principal: OnUnit) -> list[EscalationPolicyOut]:
    await _site(ctx, principal, site_id)
    return [EscalationPolicyOut.of(await ctx.store.get_escalation_policy(site_id, p)) for p in AlertPriority]


@router.put(
    "/sites/{site_id}/escalation-policies/{priority}",
    response_model=EscalationPolicyOut,
    summary="Replace the site's policy for a priority; alerts already escalating keep the policy they started with",
)
async def set_policy(
    site_id: str, priority: AlertPriority, body: EscalationPolicyIn, ctx: Ctx, principal: Admin
) -> EscalationPolicyOut:
    await _site(ctx, principal, site_id)
    steps = tuple(
        EscalationStep(tuple(EscalationTarget.parse(t) for t in step.targets), step.escalate_after_s)
        for step in body.steps
    )
    policy = EscalationPolicy(site_id, priority, steps, body.repeat, body.name)
    await ctx.store.set_escalation_policy(policy, by=principal.user_id, at=ctx.clock())
    await audit(ctx, principal, "set.escalation_policy", site_id, f"{priority.value}: {len(steps)} steps")
    return EscalationPolicyOut.of(policy)


# --- rotations, overrides, who is on call ----------------------------------------------------------------------
@router.post("/rotations", response_model=RotationOut, status_code=201, summary="Add an on-call rotation")
async def add_rotation(body: RotationIn, ctx: Ctx, principal: Admin) -> RotationOut:
    for site_id in body.site_ids:
        await _site(ctx, principal, site_id)
    rotation = Rotation(
        0, body.name, body.role, frozenset(body.site_ids), tuple(time.fromisoformat(t) for t in body.handoff_times),
        tuple(body.members), body.starts_on, body.time_zone,
    )  # fmt: skip
    try:
        validate_rotation(rotation)
    except InvalidRoster as exc:
        raise _invalid(exc) from None
    stored = await ctx.store.add_rotation(rotation)
    await audit(ctx, principal, "add.rotation", str(stored.rotation_id), f"{body.role.value} for {body.site_ids}")
    return RotationOut.of(stored)


@router.get("/rotations", response_model=list[RotationOut], summary="Rotations covering a site")
async def list_rotations(site_id: _ID, ctx: Ctx, principal: OnUnit) -> list[RotationOut]:
    await _site(ctx, principal, site_id)
    return [RotationOut.of(r) for r in await ctx.store.list_rotations(site_ids=[site_id])]


@router.post("/rotations/{rotation_id}/overrides", status_code=201, summary="Swap someone in for part of a rotation")
async def add_override(rotation_id: RowId, body: OverrideIn, ctx: Ctx, principal: Admin) -> dict[str, int]:
    rotation = next((r for r in await ctx.store.list_rotations() if r.rotation_id == rotation_id), None)
    if rotation is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Rotation {rotation_id} not found")
    for site_id in rotation.site_ids:
        authorise_site(principal, site_id)
    override = RosterOverride(0, rotation_id, body.person_id, body.starts_at, body.ends_at)
    try:
        validate_override(override, rotation)
    except InvalidRoster as exc:
        raise _invalid(exc) from None
    stored = await ctx.store.add_override(override)
    await audit(ctx, principal, "add.override", str(rotation_id), f"{body.person_id} {body.starts_at}-{body.ends_at}")
    return {"override_id": stored.override_id}


@router.get("/sites/{site_id}/on-call", response_model=list[OnCallOut], summary="Who is on call at a site, per role")
async def who_is_on_call(
    site_id: str, ctx: Ctx, principal: OnUnit, at: Annotated[datetime | None, Query()] = None
) -> list[OnCallOut]:
    await _site(ctx, principal, site_id)
    now = ctx.clock()
    when = at or now
    if when.tzinfo is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "at needs a timezone, e.g. 2025-01-31T08:00:00Z")
    if abs(when - now) > ON_CALL_REACH:
        years = ON_CALL_REACH.days // 366
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"at: ask for a time within {years} years of now")
    rotations = await ctx.store.list_rotations(site_ids=[site_id])
    overrides = await ctx.store.list_overrides([r.rotation_id for r in rotations], since=when, until=when)
    found = []
    for role in OnCallRole:
        shifts = on_call(rotations, overrides, site_id=site_id, role=role, at=when)
        found.extend([OnCallOut.of(role.value, shift) for shift in shifts] or [OnCallOut.of(role.value, None)])
    return found


@router.get(
    "/sites/{site_id}/on-call/gaps",
    response_model=OnCallGapsOut,
    summary="When nobody is on call, per role the site's escalation policies page (default: the next 14 days)",
)
async def on_call_gaps(
    site_id: str,
    ctx: Ctx,
    principal: OnUnit,
    start_at: Annotated[datetime | None, Query(alias="from")] = None,
    end_at: Annotated[datetime | None, Query(alias="to")] = None,
) -> OnCallGapsOut:
    await _site(ctx, principal, site_id)
    try:
        start_at, end_at = gaps_window(ctx.clock(), start_at=start_at, end_at=end_at)
    except ValueError as exc:
        raise _invalid(exc) from None
    return await read_gaps(ctx.store, site_id, start_at=start_at, end_at=end_at)


def gaps_window(now: datetime, *, start_at: datetime | None, end_at: datetime | None) -> tuple[datetime, datetime]:
    """The window of a gaps report: from `start_at` (default now) to `end_at` (default GAPS_DEFAULT_WINDOW later).
    Raises ValueError saying what to fix: a time without its offset or beyond ON_CALL_REACH of now, a window that
    ends before it starts, or one longer than GAPS_MAX_WINDOW."""
    start_at = now if start_at is None else _reachable("from", start_at, now)
    end_at = start_at + GAPS_DEFAULT_WINDOW if end_at is None else _reachable("to", end_at, now)
    if end_at <= start_at:
        raise ValueError(f"to must be after from: {end_at.isoformat()} is not after {start_at.isoformat()}")
    if end_at - start_at > GAPS_MAX_WINDOW:
        asked_days = (end_at - start_at) / timedelta(days=1)
        raise ValueError(
            f"ask for at most {GAPS_MAX_WINDOW.days} days at a time: {start_at.isoformat()} to "
            f"{end_at.isoformat()} is {asked_days:g} days"
        )
    return start_at, end_at


def _reachable(name: str, value: datetime, now: datetime) -> datetime:
    if value.utcoffset() is None:
        raise ValueError(f"{name} needs a timezone, e.g. 2025-01-31T08:00:00Z")
    if abs(value - now) > ON_CALL_REACH:
        raise ValueError(f"{name}: ask for a time within {ON_CALL_REACH.days // 366} years of now")
    return value


async def read_gaps(store: Store, site_id: str, *, start_at: datetime, end_at: datetime) -> OnCallGapsOut:
    """The gaps in [start_at, end_at) of every on-call role a policy of the site pages (its own, or vaktrom's default
    for a priority it has set none for): the roles an alert at the site looks for on the roster."""
    paged = _roles_paged([await store.get_escalation_policy(site_id, priority) for priority in AlertPriority])
    rotations = await store.list_rotations(site_ids=[site_id])
    overrides = await store.list_overrides([r.rotation_id for r in rotations], since=start_at, until=end_at)
    roles = []
    for role, priorities in paged.items():
        gaps = coverage_gaps(rotations, overrides, site_id=site_id, role=role, start_at=start_at, end_at=end_at)
        roles.append(
            RoleGapsOut(
                role=role.value,
                paged_for=[priority.value for priority in priorities],
                rotation_ids=[r.rotation_id for r in rotations if r.role is role],
                gaps=[OnCallGapOut.of(gap_start_at, gap_end_at) for gap_start_at, gap_end_at in gaps],
            )
        )
    window = {"starts_at": start_at.astimezone(UTC), "ends_at": end_at.astimezone(UTC)}
    return OnCallGapsOut(site_id=site_id, **window, roles=roles)


def _roles_paged(policies: list[EscalationPolicy]) -> dict[OnCallRole, list[AlertPriority]]:
    """Each on-call role some policy targets, in escalation order, with the priorities whose policies do."""
    paged: dict[OnCallRole, list[AlertPriority]] = {}
    for role in OnCallRole:
        target = EscalationTarget(TargetKind.ROLE, role.value)
        priorities = [p.priority for p in policies if any(target in step.targets for step in p.steps)]
        if priorities:
            paged[role] = priorities
    return paged


# --- webhook endpoints and contact points ----------------------------------------------------------------------
@router.put(
    "/webhook-endpoints/{endpoint_id}",
    response_model=WebhookEndpointOut,
    summary="Add or replace a pager/phone gateway (https; its secret signs what we send and is never returned)",
)
async def put_endpoint(
    endpoint_id: _ENDPOINT_ID, body: WebhookEndpointIn, ctx: Ctx, principal: Admin
) -> WebhookEndpointOut:
    await _all_sites(ctx, principal, "set.webhook_endpoint", endpoint_id)
    try:
        url = validate_webhook_url(body.url, allow_http_loopback=ctx.allow_loopback_webhooks)
    except ValueError as exc:
        raise _invalid(exc) from None
    endpoint = WebhookEndpoint(endpoint_id, url, body.secret.encode(), body.name)
    await ctx.store.upsert_webhook_endpoint(endpoint)
    await audit(ctx, principal, "set.webhook_endpoint", endpoint_id, url)
    return WebhookEndpointOut.of(endpoint)


@router.put(
    "/people/{person_id}/contact-points",
    response_model=list[ContactPointOut],
    summary="Replace how a person is reached (an empty list: not at all; their steps then move on at once)",
)
async def put_contact_points(
    person_id: _PERSON_ID, body: list[ContactPointIn], ctx: Ctx, principal: Admin
) -> list[ContactPointOut]:
    await _all_sites(ctx, principal, "set.contact_points", person_id)
    if len(body) > 10:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "At most 10 contact points per person")
    for point in body:
        try:
            await ctx.store.get_webhook_endpoint(point.endpoint_id)
        except NotFound:
            unknown = f"Unknown endpoint {point.endpoint_id}"
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, unknown) from None
    points = [ContactPoint(person_id, p.endpoint_id, p.address) for p in body]
    await ctx.store.set_contact_points(person_id, points)
    await audit(ctx, principal, "set.contact_points", person_id, f"{len(points)} points")
    return [ContactPointOut.of(p) for p in points]
