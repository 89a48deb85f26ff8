"""REST (role admin, audited): users, care-team memberships, the audit log and a patient's access report."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status

from core.errors import Conflict, NotFound
from core.store import AuditFilter
from core.types import CareTeamMember, Role, User
from dashboard_api.access import Ctx, audit
from dashboard_api.auth import Principal, require_roles
from dashboard_api.id_params import RowId
from dashboard_api.schemas_people import (
    AccessLineOut,
    AccessReportOut,
    AuditPageOut,
    AuditRowOut,
    MembershipEndIn,
    MembershipIn,
    MembershipOut,
    UserChangeIn,
    UserIn,
    UserOut,
)

__all__ = ["Admin", "router"]

router = APIRouter(prefix="/admin")


async def _all_sites_admin(principal: Annotated[Principal, Depends(require_roles(Role.ADMIN))]) -> Principal:
    """The registry, the care teams and the audit log span every site: an admin of some sites could otherwise make
    themselves (or anyone) an admin of all, or read who saw another municipality's patients."""
    if not principal.all_sites:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, 'People and audit administration needs an all-sites admin token (sites: ["*"])'
        )
    return principal


Admin = Annotated[Principal, Depends(_all_sites_admin)]
# An audit page is read by a person; 1000 rows is more than a screen and cheap to read by index.
MAX_AUDIT_ROWS = 1000
_ID = Annotated[str, Query(min_length=1, max_length=128)]


def _unknown_user(user_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"User {user_id} is not registered")


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED, summary="Register a user")
async def create_user(body: UserIn, ctx: Ctx, principal: Admin) -> UserOut:
    user = User(body.user_id, body.name, tuple(body.roles), body.organisation, tuple(body.site_ids), ctx.clock())
    try:
        added = await ctx.store.add_user(user)
    except Conflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    roles = ",".join(r.value for r in added.roles)
    await audit(ctx, principal, "admin.user.create", added.user_id, f"roles {roles}; sites {','.join(added.site_ids)}")
    return UserOut.of(added)


@router.get("/users", response_model=list[UserOut], summary="Every registered user")
async def list_users(ctx: Ctx, principal: Admin) -> list[UserOut]:
    return [UserOut.of(u) for u in await ctx.store.list_users()]


@router.get("/users/{user_id}", response_model=UserOut, summary="One registered user")
async def get_user(user_id: str, ctx: Ctx, principal: Admin) -> UserOut:
    user = await ctx.store.get_user(user_id)
    if user is None:
        raise _unknown_user(user_id)
    return UserOut.of(user)


@router.patch("/users/{user_id}", response_model=UserOut, summary="Change a user's name, organisation, roles or sites")
async def change_user(user_id: str, body: UserChangeIn, ctx: Ctx, principal: Admin) -> UserOut:
    current = await ctx.store.get_user(user_id)
    if current is None:
        raise _unknown_user(user_id)
    roles = body.roles if body.roles is not None else list(current.roles)
    sites = body.site_ids if body.site_ids is not None else list(current.site_ids)
    if "*" in sites and Role.ADMIN not in roles:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            'site_ids: "*" (every site) is for a user holding the admin role only',
        )
    changed = await ctx.store.change_user(
        user_id, at=ctx.clock(), name=body.name, organisation=body.organisation, roles=body.roles,
        site_ids=body.site_ids,
    )  # fmt: skip
    fields = ",".join(sorted(body.model_dump(exclude_none=True)))
    await audit(ctx, principal, "admin.user.change", user_id, f"changed {fields}")
    return UserOut.of(changed)


async def _set_disabled(ctx: Ctx, principal: Principal, user_id: str, *, disabled: bool) -> UserOut:
    try:
        changed = await ctx.store.change_user(user_id, at=ctx.clock(), disabled=disabled)
    except NotFound:
        raise _unknown_user(user_id) from None
    await audit(ctx, principal, f"admin.user.{'disable' if disabled else 'enable'}", user_id)
    return UserOut.of(changed)


@router.post(
    "/users/{user_id}/disable",
    response_model=UserOut,
    summary="Disable a user: their tokens are refused at once and their open live streams close (4410)",
)
async def disable_user(user_id: str, ctx: Ctx, principal: Admin) -> UserOut:
    return await _set_disabled(ctx, principal, user_id, disabled=True)


@router.post("/users/{user_id}/enable", response_model=UserOut, summary="Enable a disabled user again")
async def enable_user(user_id: str, ctx: Ctx, principal: Admin) -> UserOut:
    return await _set_disabled(ctx, principal, user_id, disabled=False)


@router.post(
    "/patients/{patient_id}/care-team",
    response_model=MembershipOut,
    status_code=status.HTTP_201_CREATED,
    summary="Add a member to a patient's care team: it grants that user the patient's data wherever the patient is",
)
async def add_membership(patient_id: str, body: MembershipIn, ctx: Ctx, principal: Admin) -> MembershipOut:
    now = ctx.clock()
    if body.start_at is not None and body.start_at > now:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "start_at: a membership cannot start in the future")
    try:
        await ctx.store.get_patient(patient_id)
    except NotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Patient {patient_id} not found") from None
    member = CareTeamMember(patient_id, body.member_id, body.role, body.organisation, body.start_at or now)
    await ctx.store.add_care_team_member(member)
    detail = f"{body.member_id} as {body.role.value}"
    await audit(ctx, principal, "admin.team.add", patient_id, detail, patient_id=patient_id)
    return MembershipOut.of(member)


@router.post(
    "/patients/{patient_id}/care-team/{member_id}/end",
    response_model=list[MembershipOut],
    summary="End a member's membership now (in one role, or all): their access to the patient ends at once",
)
async def end_membership(
    patient_id: str, member_id: str, body: MembershipEndIn, ctx: Ctx, principal: Admin
) -> list[MembershipOut]:
    try:
        ended = await ctx.store.end_care_team_membership(patient_id, member_id, role=body.role, at=ctx.clock())
    except NotFound:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"{member_id} has no open membership in the care team of patient {patient_id}"
        ) from None
    detail = f"{member_id} as {','.join(m.role.value for m in ended)}"
    await audit(ctx, principal, "admin.team.end", patient_id, detail, patient_id=patient_id)
    return [MembershipOut.of(m) for m in ended]


@router.get("/audit", response_model=AuditPageOut, summary="The audit log, newest first, filtered and paged")
async def find_audit(
    ctx: Ctx,
    principal: Admin,
    user_id: _ID | None = None,
    patient_id: _ID | None = None,
    action: _ID | None = None,
    since: Annotated[datetime | None, Query(description="From this time (inclusive).")] = None,
    until: Annotated[datetime | None, Query(description="Up to this time (exclusive).")] = None,
    before_id: Annotated[RowId | None, Query(description="The previous page's next_before_id.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_AUDIT_ROWS)] = 100,
) -> AuditPageOut:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{name}: give a time zone (e.g. Z)")
    where = AuditFilter(user_id, patient_id, action, since, until, before_id)
    found = await ctx.store.find_audit(where, limit=limit + 1)
    page = found[:limit]
    await audit(ctx, principal, "admin.audit.read", patient_id or user_id or "", f"{len(page)} rows")
    next_id = page[-1][0] if len(found) > limit else None
    return AuditPageOut(rows=[AuditRowOut.of(i, e) for i, e in page], next_before_id=next_id)


@router.get(
    "/patients/{patient_id}/access-report",
    response_model=AccessReportOut,
    summary='"Who has seen my data": every user who read or tried to read the patient\'s data, by role and grant',
)
async def access_report(patient_id: str, ctx: Ctx, principal: Admin) -> AccessReportOut:
    lines = await ctx.store.patient_access_report(patient_id)
    await audit(ctx, principal, "admin.access_report", patient_id, patient_id=patient_id)
    return AccessReportOut(patient_id=patient_id, lines=[AccessLineOut.of(line) for line in lines])
