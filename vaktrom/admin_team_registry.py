"""`vaktrom admin team-registry`: the FACT, digital FACT, LAR and PSHT teams, their members and the patients they
follow, as `/api/v1/admin/teams` does (docs/HOME_AND_TEAMS.md, "Teams"), for an admin setting a unit up."""

from __future__ import annotations

import argparse

from core.errors import ConfigError
from core.outreach import TEAM_KINDS, Team
from core.types import CareTeamMember, CareTeamRole
from vaktrom.admin_command import AdminSession, Subparsers, identifier, leaf, name_text

__all__ = ["add_admin_parsers", "team_line"]

_KINDS = sorted(kind.value for kind in TEAM_KINDS)


def team_line(team: Team) -> str:
    """id, kind, organisation, since, name (tab-separated)."""
    return f"{team.team_id}\t{team.kind.value}\t{team.organisation}\t{team.created_at.isoformat()}\t{team.name}"


def add_admin_parsers(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    registry = subparsers.add_parser(
        "team-registry",
        help="FACT, digital FACT, LAR and PSHT teams: create, members, patients followed",
        description="A team's members see its board and tasks: the data of every patient the team follows, "
        "wherever the patient is. A patient the team follows has the team in their care team (end that with "
        "`vaktrom admin teams end PATIENT TEAM_ID`); a missed check-in of such a patient becomes an outreach task "
        "for a FACT, digital FACT or LAR team.",
    )
    actions = registry.add_subparsers(dest="team_registry_command", required=True, metavar="ACTION")
    leaf(actions, "list", _list_teams, "list every team, one a line: id, kind, organisation, since, name")
    create = leaf(actions, "create", _create_team, "create a team")
    create.add_argument("team_id", type=identifier, help="e.g. fact-vest-finnmark")
    create.add_argument("--name", required=True, type=name_text, help='e.g. "FACT Vest-Finnmark"')
    create.add_argument("--kind", required=True, choices=_KINDS, help="what kind of team")
    create.add_argument("--organisation", required=True, type=name_text, help='e.g. "Hammerfest kommune"')
    members = leaf(actions, "members", _list_members, "list a team's current members (user ids)")
    members.add_argument("team_id")
    add = leaf(actions, "add-member", _add_member, "add a registered user to a team from now")
    add.add_argument("team_id")
    add.add_argument("user_id")
    end = leaf(actions, "end-member", _end_member, "end a membership now: the user's board closes at once")
    end.add_argument("team_id")
    end.add_argument("user_id")
    follow = leaf(actions, "follow", _follow, "let a team follow a patient (it joins the patient's care team)")
    follow.add_argument("team_id")
    follow.add_argument("patient_id")


async def _list_teams(args: argparse.Namespace, session: AdminSession) -> int:
    for team in await session.store.list_teams():
        session.say(team_line(team))
    await session.audit("admin.team.list", "teams")
    return 0


async def _create_team(args: argparse.Namespace, session: AdminSession) -> int:
    team = Team(args.team_id, args.name, CareTeamRole(args.kind), args.organisation, session.clock())
    await session.store.add_team(team)  # Conflict when taken: printed as vaktrom: <message>
    await session.audit("admin.team.create", team.team_id, f"{team.kind.value} {team.name}")
    session.say(team_line(team))
    return 0


async def _list_members(args: argparse.Namespace, session: AdminSession) -> int:
    await session.store.get_team(args.team_id)  # NotFound: printed
    for user_id in await session.store.team_members(args.team_id, at=session.clock()):
        session.say(user_id)
    return 0


async def _add_member(args: argparse.Namespace, session: AdminSession) -> int:
    if await session.store.get_user(args.user_id) is None:
        raise ConfigError(f"user {args.user_id} is not registered: register them first (vaktrom admin users add)")
    await session.store.add_team_member(args.team_id, args.user_id, at=session.clock())
    await session.audit("admin.team_member.add", args.team_id, args.user_id)
    session.say(f"{args.team_id}\t{args.user_id}")
    return 0


async def _end_member(args: argparse.Namespace, session: AdminSession) -> int:
    await session.store.end_team_member(args.team_id, args.user_id, at=session.clock())
    await session.audit("admin.team_member.end", args.team_id, args.user_id)
    session.say(f"{args.team_id}\t{args.user_id}\tended")
    return 0


async def _follow(args: argparse.Namespace, session: AdminSession) -> int:
    team = await session.store.get_team(args.team_id)
    await session.store.get_patient(args.patient_id)
    member = CareTeamMember(args.patient_id, team.team_id, team.kind, team.organisation, session.clock())
    await session.store.add_care_team_member(member)
    detail = f"team {team.team_id} as {team.kind.value}"
    await session.audit("admin.team.add", args.patient_id, detail, patient_id=args.patient_id)
    session.say(f"{args.patient_id}\t{team.team_id}\t{team.kind.value}\t{member.start_at.isoformat()}")
    return 0
