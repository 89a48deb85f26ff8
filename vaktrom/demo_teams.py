"""The demo's teams and the patients of its substance-use scenarios: a FACT team and a LAR team with members (users
who can log in), the patients each follows at home and in a bed, and those patients' care flags. Idempotent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from core.care_flags import CareFlag, CareFlagChange
from core.errors import NotFound
from core.outreach import Team
from core.store import Store
from core.types import CareTeamMember, CareTeamRole, Role, User
from devices.demo import DemoUnit
from devices.scenario_library import ScenarioName, demo_patient_of

__all__ = ["DEMO_TEAMS", "seed_demo_teams"]

_PRESCRIBER = "demo-russpesialist"


def _member(user_id: str, name: str, role: Role) -> tuple[str, str, Role]:
    return user_id, name, role


# team id (also its member id in each patient's care team, devices/demo.py), name, kind, organisation, members.
DEMO_TEAMS: tuple[tuple[str, str, CareTeamRole, str, tuple[tuple[str, str, Role], ...]], ...] = (
    (
        "demo-fact-team", "FACT Demo", CareTeamRole.FACT_TEAM, "FACT Demo",
        (_member("fact.demo", "Demo FACT-sykepleier", Role.NURSE), _member("fact.lege", "Demo FACT-lege", Role.DOCTOR)),
    ),
    (
        "demo-lar-team", "LAR Demo", CareTeamRole.LAR_TEAM, "LAR Demo poliklinikk",
        (_member("lar.demo", "Demo LAR-sykepleier", Role.NURSE),),
    ),
)  # fmt: skip


async def seed_demo_teams(store: Store, unit: DemoUnit, *, now: datetime) -> None:
    """The teams with their members; the FACT team also follows the alcohol-withdrawal bed, the LAR team the opioid
    bed (they follow home patients 2 and 3 from devices/demo.py); the two beds' care flags."""
    if len(unit.beds) < 6 or len(unit.home_patients) < 3:
        return  # not the demo unit
    since = now - timedelta(days=2)
    opioid = demo_patient_of(unit, ScenarioName.OPIOID_RESPIRATORY_DEPRESSION)
    withdrawal = demo_patient_of(unit, ScenarioName.ALCOHOL_WITHDRAWAL)
    followed = {"demo-fact-team": [withdrawal], "demo-lar-team": [opioid]}
    for team_id, name, kind, organisation, members in DEMO_TEAMS:
        await _team(store, Team(team_id, name, kind, organisation, since), members, unit.site_ids, now)
        for patient_id in followed[team_id]:
            await _follow(store, CareTeamMember(patient_id, team_id, kind, organisation, since), now)
    await _flag(store, opioid, CareFlag.OPIOID_AGONIST_TREATMENT, "LAR: metadon 80 mg (demo), innlagt KAD", now)
    await _flag(store, withdrawal, CareFlag.ALCOHOL_WITHDRAWAL, "Abstinensbehandling alkohol (demo)", now)


async def _team(
    store: Store, team: Team, members: Sequence[tuple[str, str, Role]], site_ids: Sequence[str], now: datetime
) -> None:
    try:
        await store.get_team(team.team_id)
    except NotFound:
        await store.add_team(team)
    for user_id, name, role in members:
        if await store.get_user(user_id) is None:
            await store.add_user(User(user_id, name, (role,), team.organisation, tuple(sorted(site_ids)), now))
        if not await store.is_team_member(team.team_id, user_id, at=now):
            await store.add_team_member(team.team_id, user_id, at=team.created_at)


async def _follow(store: Store, member: CareTeamMember, now: datetime) -> None:
    present = {m.member_id for m in await store.list_care_team(member.patient_id, at=now)}
    if member.member_id not in present:
        await store.add_care_team_member(member)


async def _flag(store: Store, patient_id: str, flag: CareFlag, reason: str, now: datetime) -> None:
    if not await store.care_flag_history(patient_id):
        await store.set_care_flags([CareFlagChange(patient_id, flag, True, reason, _PRESCRIBER, now)])
