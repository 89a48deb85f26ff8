"""The user registry, care-team membership as an access grant, and the feed of access changes API nodes poll."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.errors import Conflict, NotFound
from core.store import schema as s
from core.store.reference import care_team_member_of_row, open_at
from core.store.sql import SqlStore, one_of
from core.types import CareTeamMember, CareTeamRole, Role, User

__all__ = ["AccessChange", "UserQueries", "normalised_user"]

AccessChange = tuple[int, str]  # (row id, user id)


def normalised_user(user: User) -> User:
    """Roles and sites sorted, without repeats (as stored)."""
    roles = tuple(sorted(set(user.roles), key=lambda r: r.value))
    return User(
        user.user_id, user.name, roles, user.organisation, tuple(sorted(set(user.site_ids))), user.created_at,
        user.disabled_at,
    )  # fmt: skip


def _user_of_row(row: Any) -> User:
    return User(
        user_id=row.user_id,
        name=row.name,
        roles=tuple(Role(r) for r in row.roles),
        organisation=row.organisation,
        site_ids=tuple(row.site_ids),
        created_at=row.created_at,
        disabled_at=row.disabled_at,
    )


def _changed(conn: sa.Connection, user_id: str, what: str, at: datetime) -> None:
    conn.execute(sa.insert(s.access_changes), {"at": at, "user_id": user_id, "what": what})


class UserQueries(SqlStore):
    async def get_user(self, user_id: str) -> User | None:
        """The user's row by key: the one query every authenticated call makes."""
        query = sa.select(s.users).where(s.users.c.user_id == user_id)
        row = await self._read(lambda c: c.execute(query).first())
        return None if row is None else _user_of_row(row)

    async def list_users(self) -> list[User]:
        rows = await self._read(lambda c: c.execute(sa.select(s.users).order_by(s.users.c.user_id)).all())
        return [_user_of_row(r) for r in rows]

    async def add_user(self, user: User) -> User:
        """Register a new user; Conflict when the id is taken."""
        user = normalised_user(user)
        row = {
            "user_id": user.user_id,
            "name": user.name,
            "organisation": user.organisation,
            "roles": [r.value for r in user.roles],
            "site_ids": list(user.site_ids),
            "created_at": user.created_at,
            "disabled_at": user.disabled_at,
        }

        def add(conn: sa.Connection) -> None:
            exists = conn.execute(sa.select(s.users.c.user_id).where(s.users.c.user_id == user.user_id)).first()
            if exists is not None:
                raise Conflict(user.user_id, reason=f"User {user.user_id} is already registered")
            conn.execute(sa.insert(s.users), row)

        await self._write(add)
        return user

    async def change_user(
        self,
        user_id: str,
        *,
        at: datetime,
        name: str | None = None,
        organisation: str | None = None,
        roles: Sequence[Role] | None = None,
        site_ids: Sequence[str] | None = None,
        disabled: bool | None = None,
    ) -> User:
        """Change the given fields (a disable keeps its first time); NotFound for an unknown user. A change that
        may take access away is recorded in `access_changes` in the same transaction."""
        given: dict[str, Any] = {}
        if name is not None:
            given["name"] = name
        if organisation is not None:
            given["organisation"] = organisation
        if roles is not None:
            given["roles"] = sorted({r.value for r in roles})
        if site_ids is not None:
            given["site_ids"] = sorted(set(site_ids))

        def change(conn: sa.Connection) -> User:
            t = s.users
            values = dict(given)  # a unit of work may run again (sql.py): nothing of an aborted run stays
            row = conn.execute(sa.select(t).where(t.c.user_id == user_id).with_for_update()).first()
            if row is None:
                raise NotFound("user", user_id)
            if disabled is True and row.disabled_at is None:
                values["disabled_at"] = at
            elif disabled is False:
                values["disabled_at"] = None
            if values:
                conn.execute(sa.update(t).where(t.c.user_id == user_id).values(values))
            if roles is not None or site_ids is not None or disabled is True:
                _changed(conn, user_id, ",".join(sorted(values)), at)
            return _user_of_row(conn.execute(sa.select(t).where(t.c.user_id == user_id)).one())

        return await self._write(change)

    async def team_grants(self, member_id: str, patient_ids: Sequence[str], *, at: datetime) -> dict[str, CareTeamRole]:
        """Patient id -> the member's role in that patient's care team, for memberships open at `at`: their own, or
        a team's (FACT, LAR, ...) they are a member of then (core/store/outreach.py)."""
        t, tm = s.care_team, s.team_members
        teams = sa.select(tm.c.team_id).where(tm.c.user_id == member_id, open_at(tm, at))
        query = (
            sa.select(t.c.patient_id, t.c.role)
            .where(sa.or_(t.c.member_id == member_id, t.c.member_id.in_(teams)))
            .where(one_of(t.c.patient_id, patient_ids), open_at(t, at))
            .order_by(t.c.patient_id, t.c.role)
        )
        rows = await self._read(lambda c: c.execute(query).all())
        grants: dict[str, CareTeamRole] = {}
        for row in rows:
            grants.setdefault(row.patient_id, CareTeamRole(row.role))
        return grants

    async def memberships_of(self, member_id: str, *, at: datetime) -> list[CareTeamMember]:
        """The member's care-team memberships open at `at`, by patient."""
        t = s.care_team
        query = sa.select(t).where(t.c.member_id == member_id, open_at(t, at)).order_by(t.c.patient_id, t.c.role)
        return [care_team_member_of_row(r) for r in await self._read(lambda c: c.execute(query).all())]

    async def end_care_team_membership(
        self, patient_id: str, member_id: str, *, role: CareTeamRole | None, at: datetime
    ) -> list[CareTeamMember]:
        """End the member's open memberships in the patient's team (in `role`, or all) at `at`; returns them ended.
        NotFound when there is none. Recorded as an access change so open sockets re-check at once."""
        t = s.care_team
        match = [t.c.patient_id == patient_id, t.c.member_id == member_id, open_at(t, at)]
        if role is not None:
            match.append(t.c.role == role.value)

        def end(conn: sa.Connection) -> list[CareTeamMember]:
            rows = conn.execute(sa.select(t).where(*match).with_for_update()).all()
            if not rows:
                raise NotFound("care-team membership", f"{member_id} of {patient_id}")
            conn.execute(sa.update(t).where(*match).values(end_at=at))
            _changed(conn, member_id, f"left care team of {patient_id}", at)
            return [replace(care_team_member_of_row(r), end_at=at) for r in rows]

        return await self._write(end)

    async def access_changes_after(self, after_id: int) -> list[AccessChange]:
        """(row id, user id) of access changes with an id above `after_id`, oldest first."""
        t = s.access_changes
        query = sa.select(t.c.id, t.c.user_id).where(t.c.id > after_id).order_by(t.c.id)
        return [(r.id, r.user_id) for r in await self._read(lambda c: c.execute(query).all())]

    async def last_access_change_id(self) -> int:
        """The newest access change's id (0 when there is none): where a node starts watching."""
        query = sa.select(sa.func.coalesce(sa.func.max(s.access_changes.c.id), 0))
        return int(await self._read(lambda c: c.execute(query).scalar_one()))
