"""Daily summaries for care-team members (core/digests.py): each member's schedule row, and firing a due one with
what it reports, in one transaction with its deliveries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.digests import DIGEST_ROLES, DigestDecision, DigestFacts, DigestPatient, DigestSchedule, next_digest_at
from core.store import schema as s
from core.store.alert_rows import alert_of_row
from core.store.deliveries import insert_deliveries
from core.store.rosters import contacts_of
from core.store.sql import SqlStore, insert_new, one_of
from core.types import CareTeamMember, Patient

__all__ = ["DigestQueries", "ensure_digest_schedule"]

_g, _t = s.digest_schedules, s.care_team


def ensure_digest_schedule(conn: sa.Connection, member: CareTeamMember) -> None:
    """A member in a summary role gets a schedule (their first summary reports from when they joined); one they
    already have is kept."""
    if member.role not in DIGEST_ROLES:
        return
    row = {
        "person_id": member.member_id,
        "next_due_at": next_digest_at(member.start_at),
        "covered_from": member.start_at,
    }
    insert_new(conn, _g, row, key=["person_id"])


def _schedule(row: Any) -> DigestSchedule:
    return DigestSchedule(row.person_id, row.next_due_at, row.covered_from)


def _patients(conn: sa.Connection, schedule: DigestSchedule) -> tuple[DigestPatient, ...]:
    """The person's patients in a summary role during the period, with the alerts unresolved at some moment of it
    while the person was on the patient's care team: none opened after they left, none resolved before they joined."""
    start, end = schedule.covered_from, schedule.next_due_at
    a = s.alerts
    in_period = (
        _t.c.member_id == schedule.person_id,
        _t.c.role.in_([r.value for r in DIGEST_ROLES]),
        _t.c.start_at < end,
        sa.or_(_t.c.end_at.is_(None), _t.c.end_at > start),
    )
    member_of = sa.select(_t.c.patient_id).where(*in_period).distinct()  # the patients first: alerts by their index
    while_member = (
        sa.select(_t.c.patient_id)
        .where(
            *in_period,
            _t.c.patient_id == a.c.patient_id,
            sa.or_(_t.c.end_at.is_(None), a.c.opened_at < _t.c.end_at),
            sa.or_(a.c.resolved_at.is_(None), a.c.resolved_at >= _t.c.start_at),
        )
        .exists()
    )
    alert_rows = conn.execute(
        sa.select(a)
        .where(a.c.patient_id.in_(member_of), while_member, a.c.opened_at < end)
        .where(sa.or_(a.c.resolved_at.is_(None), a.c.resolved_at >= start))
        .order_by(a.c.patient_id, a.c.opened_at)
    ).all()
    alerts = [alert_of_row(row) for row in alert_rows]
    ids = sorted({alert.patient_id for alert in alerts if alert.patient_id is not None})
    names = {r.patient_id: r for r in conn.execute(sa.select(s.patients).where(one_of(s.patients.c.patient_id, ids)))}
    places = _places(conn, ids)
    return tuple(
        DigestPatient(
            Patient(pid, names[pid].display_name, names[pid].birth_year) if pid in names else Patient(pid, pid),
            places.get(pid, "no current stay"),
            tuple(alert for alert in alerts if alert.patient_id == pid),
        )
        for pid in ids
    )


def _places(conn: sa.Connection, patient_ids: Sequence[str]) -> dict[str, str]:
    """Where each patient's latest stay is (or was): site and ward names."""
    st, w, site = s.stays, s.wards, s.sites
    query = (
        sa.select(st.c.patient_id, st.c.setting, w.c.name.label("ward"), site.c.name.label("site"))
        .join(w, w.c.ward_id == st.c.ward_id)
        .join(site, site.c.site_id == w.c.site_id)
        .where(one_of(st.c.patient_id, patient_ids))
        .order_by(st.c.start_at)
    )
    places = {}
    for row in conn.execute(query):
        where = f"{row.site}, {row.ward}"
        places[row.patient_id] = f"at home, followed by {where}" if row.setting == "home" else where
    return places


def _fire_due(conn: sa.Connection, now: datetime, decide: DigestDecision, limit: int) -> list[DigestFacts]:
    query = (sa.select(_g).where(_g.c.next_due_at <= now).order_by(_g.c.next_due_at).limit(limit)).with_for_update(
        skip_locked=True
    )
    fired = []
    for row in conn.execute(query).all():
        schedule = _schedule(row)
        facts = DigestFacts(
            schedule,
            now,
            _patients(conn, schedule),
            contacts_of(conn, [schedule.person_id]).get(schedule.person_id, ()),
        )
        firing = decide(facts)
        insert_deliveries(conn, firing.deliveries)
        after = firing.schedule
        conn.execute(
            sa.update(_g)
            .where(_g.c.person_id == schedule.person_id)
            .values(next_due_at=after.next_due_at, covered_from=after.covered_from)
        )
        fired.append(facts)
    return fired


class DigestQueries(SqlStore):
    async def fire_due_digests(self, now: datetime, decide: DigestDecision, *, limit: int = 50) -> list[DigestFacts]:
        """Claim due summary schedules (rows another worker holds are skipped), apply `decide` to what each reports
        and write its deliveries (an id already stored is not stored again) and its next due time, in one
        transaction. Returns what was reported, oldest due first, at most `limit`."""
        return await self._write(lambda c: _fire_due(c, now, decide, limit))

    async def digest_schedule(self, person_id: str) -> DigestSchedule | None:
        row = await self._read(lambda c: c.execute(sa.select(_g).where(_g.c.person_id == person_id)).first())
        return None if row is None else _schedule(row)
