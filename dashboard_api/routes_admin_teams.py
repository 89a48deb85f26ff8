"""REST (all-sites admin, audited): teams (FACT, digital FACT, LAR, PSHT), their members, and the patients they
follow (the team joins the patient's care team under its own id). docs/HOME_AND_TEAMS.md, "Teams"."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from core.errors import Conflict, NotFound
from core.outreach import Team
from core.types import CareTeamMember
from dashboard_api.access import Ctx, audit
from dashboard_api.routes_people import Admin
from dashboard_api.schemas_team import TeamIn, TeamMemberIn, TeamOut, TeamPatientIn

__all__ = ["router"]

router = APIRouter(prefix="/admin/teams")


async def _team(ctx: Ctx, team_id: str) -> Team:
    try:
        return await ctx.store.get_team(team_id)
    except NotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Team {team_id} not found") from None


@router.post("", response_model=TeamOut, status_code=status.HTTP_201_CREATED, summary="Create a team")
async def create_team(body: TeamIn, ctx: Ctx, principal: Admin) -> TeamOut:
    team = Team(body.team_id, body.name, body.kind, body.organisation, ctx.clock())
    try:
        await ctx.store.add_team(team)
    except Conflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, exc.reason) from None
    await audit(ctx, principal, "admin.team.create", team.team_id, f"{team.kind.value} {team.name}")
    return TeamOut.of(team)


@router.get("", response_model=list[TeamOut], summary="Every team")
async def list_teams(ctx: Ctx, principal: Admin) -> list[TeamOut]:
    await audit(ctx, principal, "admin.team.list", "teams")
    return [TeamOut.of(t) for t in await ctx.store.list_teams()]


@router.post("/{team_id}/members", status_code=status.HTTP_201_CREATED, summary="Add a registered user to the team")
async def add_member(team_id: str, body: TeamMemberIn, ctx: Ctx, principal: Admin) -> dict[str, str]:
    """From now on the user sees the team's board and tasks: its patients' data, wherever they are."""
    await _team(ctx, team_id)
    if await ctx.store.get_user(body.user_id) is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"user_id: {body.user_id} is not registered")
    try:
        await ctx.store.add_team_member(team_id, body.user_id, at=ctx.clock())
    except Conflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, exc.reason) from None
    await audit(ctx, principal, "admin.team_member.add", team_id, body.user_id)
    return {"team_id": team_id, "user_id": body.user_id}


@router.post("/{team_id}/members/{user_id}/end", summary="End a membership now: the board closes for them at once")
async def end_member(team_id: str, user_id: str, ctx: Ctx, principal: Admin) -> dict[str, str]:
    try:
        await ctx.store.end_team_member(team_id, user_id, at=ctx.clock())
    except NotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{user_id} is not a member of team {team_id}") from None
    await audit(ctx, principal, "admin.team_member.end", team_id, user_id)
    return {"team_id": team_id, "user_id": user_id}


@router.post("/{team_id}/patients", status_code=status.HTTP_201_CREATED, summary="The team follows a patient")
async def follow_patient(team_id: str, body: TeamPatientIn, ctx: Ctx, principal: Admin) -> dict[str, str]:
    """The team joins the patient's care team (role: the team's kind); end it with
    POST /admin/patients/{id}/care-team/{team_id}/end."""
    team = await _team(ctx, team_id)
    try:
        await ctx.store.get_patient(body.patient_id)
    except NotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Patient {body.patient_id} not found") from None
    member = CareTeamMember(body.patient_id, team_id, team.kind, team.organisation, ctx.clock())
    await ctx.store.add_care_team_member(member)
    await audit(ctx, principal, "admin.team.add", body.patient_id, f"team {team_id} as {team.kind.value}",
                patient_id=body.patient_id)  # fmt: skip
    return {"team_id": team_id, "patient_id": body.patient_id}
