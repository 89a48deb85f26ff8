"""On-call rotations and their overrides, webhook endpoints and people's contact points.

Shifts are computed from rotations (alerts/rosters.py), never stored: an edit to a rotation changes every future
shift at once, and there is nothing to keep in step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, time
from typing import Any

import sqlalchemy as sa

from core.errors import NotFound
from core.escalation import ContactPoint, OnCallContext, WebhookEndpoint
from core.oncall import OnCallRole, RosterOverride, Rotation
from core.store import schema as s
from core.store.sql import SqlStore, one_of, upsert

__all__ = ["RosterQueries", "on_call_context"]

_r, _rs, _o = s.rotations, s.rotation_sites, s.roster_overrides
_e, _c = s.webhook_endpoints, s.contact_points


def _rotation(row: Any, site_ids: Sequence[str]) -> Rotation:
    return Rotation(
        rotation_id=int(row.rotation_id),
        name=row.name,
        role=OnCallRole(row.role),
        site_ids=frozenset(site_ids),
        handoff_times=tuple(time.fromisoformat(t) for t in row.handoff_times),
        members=tuple(row.members),
        starts_on=row.starts_on,
        time_zone=row.time_zone,
    )


def _override(row: Any) -> RosterOverride:
    return RosterOverride(int(row.override_id), int(row.rotation_id), row.person_id, row.starts_at, row.ends_at)


def rotations_of(conn: sa.Connection, *, site_ids: Sequence[str] | None) -> list[Rotation]:
    query = sa.select(_r).order_by(_r.c.rotation_id)
    if site_ids is not None:
        covering = sa.select(_rs.c.rotation_id).where(one_of(_rs.c.site_id, site_ids))
        query = query.where(_r.c.rotation_id.in_(covering))
    rows = conn.execute(query).all()
    sites: dict[int, list[str]] = {}
    ids = [int(row.rotation_id) for row in rows]
    for link in conn.execute(sa.select(_rs).where(one_of(_rs.c.rotation_id, ids))).all():
        sites.setdefault(int(link.rotation_id), []).append(link.site_id)
    return [_rotation(row, sites.get(int(row.rotation_id), [])) for row in rows]


def overrides_of(
    conn: sa.Connection, rotation_ids: Sequence[int], *, since: datetime, until: datetime
) -> list[RosterOverride]:
    """Overrides of these rotations in force at some instant of [since, until] (since == until: at that instant)."""
    query = (
        sa.select(_o)
        .where(one_of(_o.c.rotation_id, rotation_ids), _o.c.ends_at > since, _o.c.starts_at <= until)
        .order_by(_o.c.override_id)
    )
    return [_override(row) for row in conn.execute(query).all()]


def contacts_of(conn: sa.Connection, person_ids: Sequence[str]) -> dict[str, tuple[ContactPoint, ...]]:
    query = (
        sa.select(_c).where(one_of(_c.c.person_id, sorted(set(person_ids)))).order_by(_c.c.endpoint_id, _c.c.address)
    )
    found: dict[str, list[ContactPoint]] = {}
    for row in conn.execute(query).all():
        found.setdefault(row.person_id, []).append(ContactPoint(row.person_id, row.endpoint_id, row.address))
    return {person: tuple(points) for person, points in found.items()}


def on_call_context(conn: sa.Connection, *, site_id: str, people: Sequence[str], at: datetime) -> OnCallContext:
    """Everything firing a step of `site_id`'s chain at `at` may need; `people` are the persons the policy names."""
    rotations = rotations_of(conn, site_ids=[site_id])
    overrides = overrides_of(conn, [r.rotation_id for r in rotations], since=at, until=at)
    named = [*people, *(m for r in rotations for m in r.members), *(o.person_id for o in overrides)]
    return OnCallContext(tuple(rotations), tuple(overrides), contacts_of(conn, named))


def _add_rotation(conn: sa.Connection, rotation: Rotation) -> Rotation:
    values = {
        "name": rotation.name,
        "role": rotation.role.value,
        "handoff_times": [t.isoformat(timespec="minutes") for t in rotation.handoff_times],
        "members": list(rotation.members),
        "starts_on": rotation.starts_on,
        "time_zone": rotation.time_zone,
    }
    rotation_id = int(conn.execute(sa.insert(_r).values(values).returning(_r.c.rotation_id)).scalar_one())
    conn.execute(sa.insert(_rs), [{"rotation_id": rotation_id, "site_id": site} for site in sorted(rotation.site_ids)])
    return replace(rotation, rotation_id=rotation_id)


def _add_override(conn: sa.Connection, override: RosterOverride) -> RosterOverride:
    if conn.execute(sa.select(_r.c.rotation_id).where(_r.c.rotation_id == override.rotation_id)).first() is None:
        raise NotFound("rotation", override.rotation_id)
    values = {
        "rotation_id": override.rotation_id,
        "person_id": override.person_id,
        "starts_at": override.starts_at,
        "ends_at": override.ends_at,
    }
    override_id = int(conn.execute(sa.insert(_o).values(values).returning(_o.c.override_id)).scalar_one())
    return replace(override, override_id=override_id)


def _set_contacts(conn: sa.Connection, person_id: str, points: Sequence[ContactPoint]) -> None:
    conn.execute(sa.delete(_c).where(_c.c.person_id == person_id))
    if points:
        conn.execute(
            sa.insert(_c),
            [{"person_id": person_id, "endpoint_id": p.endpoint_id, "address": p.address} for p in points],
        )


class RosterQueries(SqlStore):
    async def add_rotation(self, rotation: Rotation) -> Rotation:
        """Store a validated rotation (its `rotation_id` is ignored) and return it with the id it got."""
        return await self._write(lambda c: _add_rotation(c, rotation))

    async def list_rotations(self, *, site_ids: Sequence[str] | None = None) -> list[Rotation]:
        return await self._read(lambda c: rotations_of(c, site_ids=site_ids))

    async def add_override(self, override: RosterOverride) -> RosterOverride:
        """Raises NotFound for an unknown rotation."""
        return await self._write(lambda c: _add_override(c, override))

    async def list_overrides(
        self, rotation_ids: Sequence[int], *, since: datetime, until: datetime
    ) -> list[RosterOverride]:
        return await self._read(lambda c: overrides_of(c, rotation_ids, since=since, until=until))

    async def upsert_webhook_endpoint(self, endpoint: WebhookEndpoint) -> None:
        row = {
            "endpoint_id": endpoint.endpoint_id,
            "name": endpoint.name,
            "url": endpoint.url,
            "secret": endpoint.secret,
        }
        await self._write(lambda c: upsert(c, _e, row, key=["endpoint_id"]))

    async def get_webhook_endpoint(self, endpoint_id: str) -> WebhookEndpoint:
        """Raises NotFound."""
        row = await self._read(lambda c: c.execute(sa.select(_e).where(_e.c.endpoint_id == endpoint_id)).first())
        if row is None:
            raise NotFound("webhook endpoint", endpoint_id)
        return WebhookEndpoint(row.endpoint_id, row.url, bytes(row.secret), row.name)

    async def set_contact_points(self, person_id: str, points: Sequence[ContactPoint]) -> None:
        """Replace how `person_id` is reached (an empty list: not at all, and their steps fail and move on)."""
        await self._write(lambda c: _set_contacts(c, person_id, points))

    async def contact_points(self, person_ids: Sequence[str]) -> dict[str, tuple[ContactPoint, ...]]:
        return await self._read(lambda c: contacts_of(c, person_ids))
