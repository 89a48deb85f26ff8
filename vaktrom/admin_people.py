"""`vaktrom admin users|teams`: the user registry and care-team memberships (docs/ACCESS.md), and the check that
`vaktrom token` signs tokens for registered users only."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from core.errors import ConfigError, NotFound
from core.settings import Settings
from core.store import Store
from core.types import CareTeamMember, CareTeamRole, Role, User
from vaktrom.admin_command import AdminSession, Subparsers

__all__ = ["add_admin_parsers", "require_registered", "user_line"]

_ROLES = [r.value for r in Role]
_TEAM_ROLES = [r.value for r in CareTeamRole]


def user_line(user: User) -> str:
    """id, roles, sites, organisation, state, name (tab-separated)."""
    state = "enabled" if user.disabled_at is None else f"disabled {user.disabled_at.isoformat()}"
    roles, sites = ",".join(r.value for r in user.roles), ",".join(user.site_ids) or "-"
    return f"{user.user_id}\t{roles}\t{sites}\t{user.organisation}\t{state}\t{user.name}"


def add_admin_parsers(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    _add_users(subparsers)
    _add_teams(subparsers)


def _add_users(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    users = subparsers.add_parser(
        "users",
        help="register, change, disable and enable users",
        description="The user registry: a token names a user; the registry says which roles they may ask for and "
        "which sites they serve, and refuses disabled users at once (their open live streams close with 4410).",
    )
    actions = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list", help="list every user", description="One a line: id, roles, sites, organisation, state, name."
    )
    listing.set_defaults(admin_func=_list_users)
    add = actions.add_parser("add", help="register a user", description="Register a user who may then sign in.")
    add.add_argument("user_id", help="the id tokens name (sub), e.g. nurse.kari")
    add.add_argument("--name", required=True, help="display name")
    add.add_argument("--organisation", required=True, help='e.g. "Hammerfest kommune"')
    add.add_argument("--role", action="append", required=True, dest="roles", choices=_ROLES, help="(repeatable)")
    add.add_argument("--site", action="append", default=[], dest="sites", help='site id (repeatable; "*" admins)')
    add.set_defaults(admin_func=_add_user)
    change = actions.add_parser(
        "change", help="replace a user's roles or sites", description="Replace the lists given; keep the others."
    )
    change.add_argument("user_id")
    change.add_argument("--role", action="append", dest="roles", choices=_ROLES, help="(repeatable)")
    change.add_argument("--site", action="append", dest="sites", help="site id (repeatable)")
    change.set_defaults(admin_func=_change_user)
    for verb, helptext in (("disable", "refuse the user's tokens from now on"), ("enable", "let a user in again")):
        sub = actions.add_parser(verb, help=helptext, description=helptext.capitalize() + ".")
        sub.add_argument("user_id")
        sub.set_defaults(admin_func=_disable_user if verb == "disable" else _enable_user)


def _add_teams(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    teams = subparsers.add_parser(
        "teams",
        help="add and end care-team memberships",
        description="A membership of a patient's care team grants its member that patient's data wherever the "
        "patient is (home, a KAD bed, a sykestue of another municipality), and nothing else; ending it revokes "
        "the access at once.",
    )
    actions = teams.add_subparsers(dest="teams_command", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list", help="list a patient's current team", description="One a line: member, role, organisation, since."
    )
    listing.add_argument("patient_id")
    listing.set_defaults(admin_func=_list_team)
    add = actions.add_parser("add", help="add a member", description="Add a member to a patient's care team from now.")
    add.add_argument("patient_id")
    add.add_argument("member_id", help="the member's user id")
    add.add_argument("--role", required=True, choices=_TEAM_ROLES, help="role in the team")
    add.add_argument("--organisation", required=True, help='e.g. "FACT Vest-Finnmark"')
    add.set_defaults(admin_func=_add_member)
    end = actions.add_parser("end", help="end a membership now", description="End a member's membership now.")
    end.add_argument("patient_id")
    end.add_argument("member_id")
    end.add_argument("--role", choices=_TEAM_ROLES, help="only this role's membership (default: all)")
    end.set_defaults(admin_func=_end_member)


async def _list_users(args: argparse.Namespace, session: AdminSession) -> int:
    for user in await session.store.list_users():
        session.say(user_line(user))
    return 0


def _check_sites(roles: Sequence[Role], sites: Sequence[str]) -> None:
    if "*" in sites and Role.ADMIN not in roles:
        raise ConfigError('--site "*" (every site) is for a user holding the admin role only')


async def _add_user(args: argparse.Namespace, session: AdminSession) -> int:
    roles = [Role(r) for r in args.roles]
    _check_sites(roles, args.sites)
    user = User(args.user_id, args.name, tuple(roles), args.organisation, tuple(args.sites), session.clock())
    added = await session.store.add_user(user)  # Conflict when taken: printed as vaktrom: <message>
    await session.audit("admin.user.create", added.user_id, f"roles {','.join(r.value for r in added.roles)}")
    session.say(user_line(added))
    return 0


async def _change_user(args: argparse.Namespace, session: AdminSession) -> int:
    current = await session.store.get_user(args.user_id)
    if current is None:
        raise NotFound("user", args.user_id)
    roles = [Role(r) for r in args.roles] if args.roles else None
    _check_sites(roles or current.roles, args.sites or current.site_ids)
    changed = await session.store.change_user(args.user_id, at=session.clock(), roles=roles, site_ids=args.sites)
    await session.audit("admin.user.change", args.user_id, "changed roles/sites")
    session.say(user_line(changed))
    return 0


async def _set_disabled(args: argparse.Namespace, session: AdminSession, *, disabled: bool) -> int:
    changed = await session.store.change_user(args.user_id, at=session.clock(), disabled=disabled)
    await session.audit(f"admin.user.{'disable' if disabled else 'enable'}", args.user_id)
    session.say(user_line(changed))
    return 0


async def _disable_user(args: argparse.Namespace, session: AdminSession) -> int:
    return await _set_disabled(args, session, disabled=True)


async def _enable_user(args: argparse.Namespace, session: AdminSession) -> int:
    return await _set_disabled(args, session, disabled=False)


async def _list_team(args: argparse.Namespace, session: AdminSession) -> int:
    for m in await session.store.list_care_team(args.patient_id, at=session.clock()):
        session.say(f"{m.member_id}\t{m.role.value}\t{m.organisation}\t{m.start_at.isoformat()}")
    return 0


async def _add_member(args: argparse.Namespace, session: AdminSession) -> int:
    await session.store.get_patient(args.patient_id)  # NotFound: printed as vaktrom: <message>
    member = CareTeamMember(
        args.patient_id, args.member_id, CareTeamRole(args.role), args.organisation, session.clock()
    )
    await session.store.add_care_team_member(member)
    detail = f"{member.member_id} as {member.role.value}"
    await session.audit("admin.team.add", args.patient_id, detail, patient_id=args.patient_id)
    session.say(f"{member.member_id}\t{member.role.value}\t{member.organisation}\t{member.start_at.isoformat()}")
    return 0


async def _end_member(args: argparse.Namespace, session: AdminSession) -> int:
    role = CareTeamRole(args.role) if args.role else None
    ended = await session.store.end_care_team_membership(args.patient_id, args.member_id, role=role, at=session.clock())
    detail = f"{args.member_id} as {','.join(m.role.value for m in ended)}"
    await session.audit("admin.team.end", args.patient_id, detail, patient_id=args.patient_id)
    for m in ended:
        session.say(f"{m.member_id}\t{m.role.value}\tended {m.end_at.isoformat() if m.end_at else ''}")
    return 0


async def require_registered(settings: Settings, user_id: str, role: Role) -> None:
    """Refuse (ConfigError, saying what to do) to sign a token the API would refuse: an unknown or disabled user,
    or a role the user does not hold."""
    from vaktrom.wiring import build_store

    store: Store = build_store(settings)
    await store.open()
    try:
        user = await store.get_user(user_id)
    finally:
        await store.close()
    if user is None:
        raise ConfigError(f"user {user_id} is not registered: register them first (vaktrom admin users add --help)")
    if user.disabled_at is not None:
        raise ConfigError(f"user {user_id} is disabled (vaktrom admin users enable {user_id})")
    if role not in user.roles:
        held = ",".join(r.value for r in user.roles)
        raise ConfigError(f"user {user_id} does not hold the role {role.value} (holds: {held})")
