"""Teams (FACT, digital FACT, LAR, PSHT) and their members, outreach tasks with their history, and plan notes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.errors import Conflict, NotFound
from core.homecare import WorklistItem, WorklistKind
from core.outreach import (
    OUTREACH_TEAM_KINDS,
    OutreachEvent,
    OutreachOutcome,
    OutreachState,
    OutreachTask,
    PatientFollowUp,
    PlanNote,
    StaffAction,
    Team,
    TeamChanges,
    WorklistMark,
    outreach_task_for,
)
from core.store import schema as s
from core.store.reference import open_at
from core.store.sql import SqlStore, one_of
from core.types import CareTeamMember, CareTeamRole

__all__ = ["OutreachQueries", "open_outreach_tasks", "with_team_members"]

_teams, _members, _tasks, _events, _notes = (
    s.teams, s.team_members, s.outreach_tasks, s.outreach_events, s.team_plan_notes,
)  # fmt: skip
# A task nobody has taken is the team's to act on; a taken one has its member; a done one is history.
_STATE_RANK = {OutreachState.OPEN.value: 0, OutreachState.TAKEN.value: 1, OutreachState.DONE.value: 2}


def _team_of_row(row: Any) -> Team:
    return Team(row.team_id, row.name, CareTeamRole(row.kind), row.organisation, row.created_at)


def _task_of_row(row: Any) -> OutreachTask:
    return OutreachTask(
        task_id=row.task_id, team_id=row.team_id, patient_id=row.patient_id, item_id=row.item_id,
        kind=WorklistKind(row.kind), summary=row.summary, opened_at=row.opened_at, state=OutreachState(row.state),
        assignee=row.assignee, done_at=row.done_at,
        outcome=None if row.outcome is None else OutreachOutcome(row.outcome),
    )  # fmt: skip


def _note_of_row(row: Any) -> PlanNote:
    return PlanNote(row.team_id, row.patient_id, row.text, row.written_by, row.written_at)


def _insert_event(conn: sa.Connection, event: OutreachEvent) -> None:
    values = {"task_id": event.task_id, "at": event.at, "actor": event.actor, "action": event.action}
    conn.execute(sa.insert(_events).values(**values, text=event.text))


def open_outreach_tasks(conn: sa.Connection, item: WorklistItem) -> list[OutreachTask]:
    """In the transaction that opens `item`: a task for each FACT, digital FACT or LAR team following its patient
    then, unless that team already has one for the item (a check repeated after a crash adds nothing)."""
    ct = s.care_team
    following = (
        sa.select(_teams.c.team_id)
        .select_from(ct.join(_teams, _teams.c.team_id == ct.c.member_id))
        .where(ct.c.patient_id == item.patient_id, open_at(ct, item.opened_at))
        .where(_teams.c.kind.in_([k.value for k in OUTREACH_TEAM_KINDS]))
        .distinct()
    )
    opened = []
    for team_id in sorted(conn.execute(following).scalars()):
        exists = sa.select(_tasks.c.task_id).where(_tasks.c.item_id == item.item_id, _tasks.c.team_id == team_id)
        if conn.execute(exists).first() is not None:
            continue
        task = outreach_task_for(item, team_id)
        conn.execute(
            sa.insert(_tasks).values(
                task_id=task.task_id, team_id=task.team_id, patient_id=task.patient_id, item_id=task.item_id,
                kind=task.kind.value, summary=task.summary, opened_at=task.opened_at, state=task.state.value,
            )
        )  # fmt: skip
        _insert_event(conn, OutreachEvent(task.task_id, task.opened_at, "system", "opened", task.summary))
        opened.append(task)
    return opened


def with_team_members(conn: sa.Connection, members: Sequence[CareTeamMember], at: datetime) -> list[CareTeamMember]:
    """Care-team rows with, after each row of a team (FACT, LAR, ...), a row per person in the team at `at` in the
    team's role: a step that informs `care_team:lar_team` reaches the LAR team's people, not only its own address."""
    team_ids = sorted({m.member_id for m in members})
    m = _members
    rows = conn.execute(
        sa.select(m.c.team_id, m.c.user_id, _teams.c.name)
        .select_from(m.join(_teams, _teams.c.team_id == m.c.team_id))
        .where(one_of(m.c.team_id, team_ids), open_at(m, at))
        .order_by(m.c.team_id, m.c.user_id)
    ).all()
    people: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        people.setdefault(row.team_id, []).append((row.user_id, row.name))
    expanded: list[CareTeamMember] = []
    seen = {(mem.patient_id, mem.member_id, mem.role) for mem in members}
    for member in members:
        expanded.append(member)
        for user_id, team_name in people.get(member.member_id, ()):
            if (member.patient_id, user_id, member.role) not in seen:
                seen.add((member.patient_id, user_id, member.role))
                expanded.append(CareTeamMember(member.patient_id, user_id, member.role, team_name, member.start_at))
    return expanded


def _newest_staff_actions(conn: sa.Connection, patient_ids: Sequence[str]) -> dict[str, StaffAction]:
    """Per patient, the newest of: a worklist item or outreach task handled by a person, an alert acknowledged."""
    w, we, a = s.worklist_items, s.worklist_events, s.alerts
    by_person = [
        sa.select(w.c.patient_id, we.c.at, we.c.actor, ("worklist item " + we.c.action).label("what"))
        .select_from(we.join(w, w.c.item_id == we.c.item_id))
        .where(one_of(w.c.patient_id, patient_ids), we.c.actor != "system"),
        sa.select(_tasks.c.patient_id, _events.c.at, _events.c.actor, ("outreach task " + _events.c.action))
        .select_from(_events.join(_tasks, _tasks.c.task_id == _events.c.task_id))
        .where(one_of(_tasks.c.patient_id, patient_ids), _events.c.actor != "system"),
        sa.select(a.c.patient_id, a.c.acknowledged_at, a.c.acknowledged_by, sa.literal("alert acknowledged")).where(
            one_of(a.c.patient_id, patient_ids), a.c.acknowledged_at.is_not(None), a.c.acknowledged_by.is_not(None)
        ),
    ]
    every = sa.union_all(*by_person).subquery()
    newest = sa.func.row_number().over(partition_by=every.c.patient_id, order_by=every.c.at.desc()).label("rank")
    ranked = sa.select(every, newest).subquery()
    rows = conn.execute(sa.select(ranked).where(ranked.c.rank == 1)).all()
    return {r.patient_id: StaffAction(r.at, r.actor, r.what) for r in rows}


def _follow_up(conn: sa.Connection, patient_ids: Sequence[str], since: datetime) -> dict[str, PatientFollowUp]:
    w = s.worklist_items
    open_rows = conn.execute(
        sa.select(w.c.item_id, w.c.patient_id, w.c.kind, w.c.summary, w.c.opened_at, w.c.state)
        .where(one_of(w.c.patient_id, patient_ids), w.c.state != "closed")
        .order_by(w.c.opened_at, w.c.item_id)
    ).all()
    check_ins = [WorklistKind.MISSED_MEASUREMENT.value, WorklistKind.INACTIVE_PATIENT.value]
    counted = conn.execute(
        sa.select(w.c.patient_id, sa.func.count().label("n"))
        .where(one_of(w.c.patient_id, patient_ids), w.c.kind.in_(check_ins), w.c.opened_at >= since)
        .group_by(w.c.patient_id)
    ).all()
    missed = {r.patient_id: int(r.n) for r in counted}
    actions = _newest_staff_actions(conn, patient_ids)
    items: dict[str, list[WorklistMark]] = {}
    for r in open_rows:
        items.setdefault(r.patient_id, []).append(WorklistMark(r.item_id, r.kind, r.summary, r.opened_at, r.state))
    return {
        pid: PatientFollowUp(tuple(items.get(pid, ())), missed.get(pid, 0), actions.get(pid)) for pid in patient_ids
    }


def _team_changes(conn: sa.Connection, team_id: str, patient_ids: Sequence[str], after: TeamChanges) -> TeamChanges:
    w, we = s.worklist_items, s.worklist_events
    sources = [
        sa.select(_events.c.id, _tasks.c.patient_id)
        .select_from(_events.join(_tasks, _tasks.c.task_id == _events.c.task_id))
        .where(_tasks.c.team_id == team_id, _events.c.id > after.task_event_id),
        sa.select(_notes.c.id, _notes.c.patient_id).where(_notes.c.team_id == team_id, _notes.c.id > after.note_id),
        sa.select(we.c.id, w.c.patient_id)
        .select_from(we.join(w, w.c.item_id == we.c.item_id))
        .where(one_of(w.c.patient_id, patient_ids), we.c.id > after.worklist_event_id),
    ]
    newest: list[int] = []
    changed: set[str] = set()
    for query, seen in zip(sources, (after.task_event_id, after.note_id, after.worklist_event_id), strict=True):
        rows = conn.execute(query).all()
        newest.append(max((r.id for r in rows), default=seen))
        changed.update(r.patient_id for r in rows)
    return TeamChanges(newest[0], newest[1], newest[2], frozenset(changed))


def _task_order(tasks: sa.Select[Any]) -> sa.Select[Any]:
    """Each patient's most pressing task first (open before taken before done, then the newest), the patients'
    newest first; then each patient's next, and so on. What a member must act on now heads the list, and a cut list
    leaves out the older tasks of patients with many, never a patient's only or newest task."""
    pressing = (sa.case(_STATE_RANK, value=_tasks.c.state, else_=len(_STATE_RANK)), _tasks.c.opened_at.desc())
    turn = sa.func.row_number().over(partition_by=_tasks.c.patient_id, order_by=(*pressing, _tasks.c.task_id))
    ranked = tasks.add_columns(turn.label("turn"), pressing[0].label("state_rank")).subquery()
    order = (ranked.c.turn, ranked.c.state_rank, ranked.c.opened_at.desc(), ranked.c.task_id)
    return sa.select(ranked).order_by(*order)


def _current_member(team_id: str, user_id: str, at: datetime) -> sa.Select[Any]:
    m = _members
    return sa.select(m.c.user_id).where(m.c.team_id == team_id, m.c.user_id == user_id, open_at(m, at))


class OutreachQueries(SqlStore):
    async def add_team(self, team: Team) -> Team:
        """Conflict when the id is taken."""
        row = {"team_id": team.team_id, "name": team.name, "kind": team.kind.value,
               "organisation": team.organisation, "created_at": team.created_at}  # fmt: skip

        def add(conn: sa.Connection) -> None:
            if conn.execute(sa.select(_teams.c.team_id).where(_teams.c.team_id == team.team_id)).first():
                raise Conflict(team.team_id, reason=f"Team {team.team_id} already exists")
            conn.execute(sa.insert(_teams), row)

        await self._write(add)
        return team

    async def get_team(self, team_id: str) -> Team:
        """Raises NotFound."""
        row = await self._read(lambda c: c.execute(sa.select(_teams).where(_teams.c.team_id == team_id)).first())
        if row is None:
            raise NotFound("team", team_id)
        return _team_of_row(row)

    async def list_teams(self) -> list[Team]:
        rows = await self._read(lambda c: c.execute(sa.select(_teams).order_by(_teams.c.team_id)).all())
        return [_team_of_row(r) for r in rows]

    async def add_team_member(self, team_id: str, user_id: str, *, at: datetime) -> None:
        """NotFound for an unknown team; Conflict when the user is a member already."""

        def add(conn: sa.Connection) -> None:
            if conn.execute(sa.select(_teams.c.team_id).where(_teams.c.team_id == team_id)).first() is None:
                raise NotFound("team", team_id)
            if conn.execute(_current_member(team_id, user_id, at)).first() is not None:
                raise Conflict(user_id, reason=f"{user_id} is already a member of team {team_id}")
            conn.execute(sa.insert(_members).values(team_id=team_id, user_id=user_id, start_at=at, end_at=None))

        await self._write(add)

    async def end_team_member(self, team_id: str, user_id: str, *, at: datetime) -> None:
        """NotFound when the user is no member now. Recorded as an access change: the member's team sockets close."""
        m = _members
        match = (m.c.team_id == team_id, m.c.user_id == user_id, open_at(m, at))

        def end(conn: sa.Connection) -> None:
            if not conn.execute(sa.select(m.c.user_id).where(*match).with_for_update()).all():
                raise NotFound("team membership", f"{user_id} of {team_id}")
            conn.execute(sa.update(m).where(*match).values(end_at=at))
            conn.execute(sa.insert(s.access_changes).values(at=at, user_id=user_id, what=f"left team {team_id}"))

        await self._write(end)

    async def team_members(self, team_id: str, *, at: datetime) -> list[str]:
        m = _members
        query = sa.select(m.c.user_id).where(m.c.team_id == team_id, open_at(m, at)).distinct().order_by(m.c.user_id)
        return list(await self._read(lambda c: c.execute(query).scalars().all()))

    async def is_team_member(self, team_id: str, user_id: str, *, at: datetime) -> bool:
        return await self._read(lambda c: c.execute(_current_member(team_id, user_id, at)).first()) is not None

    async def teams_of_member(self, user_id: str, *, at: datetime) -> list[Team]:
        m = _members
        query = (
            sa.select(_teams)
            .where(_teams.c.team_id.in_(sa.select(m.c.team_id).where(m.c.user_id == user_id, open_at(m, at))))
            .order_by(_teams.c.team_id)
        )
        return [_team_of_row(r) for r in await self._read(lambda c: c.execute(query).all())]

    async def team_patients(self, team_id: str, *, at: datetime) -> list[str]:
        """The patients whose care team has the team as a member at `at`."""
        ct = s.care_team
        query = sa.select(ct.c.patient_id).where(ct.c.member_id == team_id, open_at(ct, at)).distinct()
        return sorted(await self._read(lambda c: c.execute(query).scalars().all()))

    async def outreach_tasks(
        self,
        team_id: str,
        *,
        states: Sequence[OutreachState],
        patient_ids: Sequence[str] | None = None,
        limit: int = 500,
    ) -> list[OutreachTask]:
        """The team's first `limit` tasks in `states` in the order of `_task_order`; of `patient_ids` only (None: any
        patient). Both are applied before the limit, so neither a former patient's tasks nor one patient's pile of
        old ones crowds out another patient's newest; ask `limit + 1` to learn the list was cut."""
        query = sa.select(_tasks).where(_tasks.c.team_id == team_id, _tasks.c.state.in_([st.value for st in states]))
        if patient_ids is not None:
            query = query.where(one_of(_tasks.c.patient_id, patient_ids))
        ranked = _task_order(query)
        return [_task_of_row(r) for r in await self._read(lambda c: c.execute(ranked.limit(limit)).all())]

    async def outreach_task(self, task_id: str) -> tuple[OutreachTask, list[OutreachEvent]]:
        """The task and its history. Raises NotFound."""

        def read(conn: sa.Connection) -> tuple[OutreachTask, list[OutreachEvent]]:
            row = conn.execute(sa.select(_tasks).where(_tasks.c.task_id == task_id)).first()
            if row is None:
                raise NotFound("outreach task", task_id)
            events = conn.execute(
                sa.select(_events).where(_events.c.task_id == task_id).order_by(_events.c.at, _events.c.id)
            ).all()
            return _task_of_row(row), [OutreachEvent(e.task_id, e.at, e.actor, e.action, e.text) for e in events]

        return await self._read(read)

    async def update_outreach_task(
        self,
        task_id: str,
        *,
        actor: str,
        action: str,
        at: datetime,
        text: str = "",
        assignee: str | None = None,
        outcome: OutreachOutcome | None = None,
    ) -> OutreachTask:
        """taken (by the actor), assigned (to `assignee`), note, or done (with an outcome): one transaction with its
        history row. Raises NotFound, or Conflict for anything done to a finished task and for taking a task another
        member has (assigning it stays the way to hand it over); its holder taking it again changes nothing."""

        def write(conn: sa.Connection) -> OutreachTask:
            row = conn.execute(sa.select(_tasks).where(_tasks.c.task_id == task_id).with_for_update()).first()
            if row is None:
                raise NotFound("outreach task", task_id)
            if row.state == OutreachState.DONE.value:
                raise Conflict(task_id, reason=f"outreach task {task_id} is done ({row.outcome}); it cannot change")
            values: dict[str, Any] = {}
            if action == "taken" and row.state == OutreachState.TAKEN.value:
                if row.assignee == actor:
                    return _task_of_row(row)  # taken again by its holder (a double click, a retry): nothing changes
                why = f"outreach task {task_id} is taken by {row.assignee}; they can assign it to you"
                raise Conflict(task_id, reason=why)
            if action == "taken":
                values = {"state": OutreachState.TAKEN.value, "assignee": actor}
            elif action == "assigned":
                values = {"state": OutreachState.TAKEN.value, "assignee": assignee}
            elif action == "done":
                assert outcome is not None
                values = {"state": OutreachState.DONE.value, "done_at": at, "outcome": outcome.value}
            if values:
                conn.execute(sa.update(_tasks).where(_tasks.c.task_id == task_id).values(**values))
            _insert_event(conn, OutreachEvent(task_id, at, actor, action, text))
            return _task_of_row(conn.execute(sa.select(_tasks).where(_tasks.c.task_id == task_id)).one())

        return await self._write(write)

    async def follow_up(self, patient_ids: Sequence[str], *, since: datetime) -> dict[str, PatientFollowUp]:
        """Per patient: open worklist items, missed check-ins opened since `since`, and the newest staff action."""
        if not patient_ids:
            return {}
        return await self._read(lambda c: _follow_up(c, patient_ids, since))

    async def team_changes(self, team_id: str, patient_ids: Sequence[str], *, after: TeamChanges) -> TeamChanges:
        """What changed on the team's board since `after` (tasks, plan notes, the patients' worklist items)."""
        return await self._read(lambda c: _team_changes(c, team_id, patient_ids, after))

    async def display_names(self, patient_ids: Sequence[str]) -> dict[str, str]:
        """Patient id -> name, in one query (patients not registered are absent)."""
        p = s.patients
        query = sa.select(p.c.patient_id, p.c.display_name).where(one_of(p.c.patient_id, patient_ids))
        return {r.patient_id: r.display_name for r in await self._read(lambda c: c.execute(query).all())}

    async def bed_labels(self, bed_ids: Sequence[str]) -> dict[str, str]:
        """Bed id -> label, in one query."""
        b = s.beds
        query = sa.select(b.c.bed_id, b.c.label).where(one_of(b.c.bed_id, bed_ids))
        return {r.bed_id: r.label for r in await self._read(lambda c: c.execute(query).all())}

    async def add_plan_note(self, note: PlanNote) -> None:
        row = {"team_id": note.team_id, "patient_id": note.patient_id, "text": note.text,
               "written_by": note.written_by, "written_at": note.written_at}  # fmt: skip
        await self._write(lambda c: c.execute(sa.insert(_notes), row))

    async def plan_notes(self, team_id: str, patient_ids: Sequence[str]) -> dict[str, PlanNote]:
        """The newest note per patient (patients without one are absent)."""
        if not patient_ids:
            return {}
        newest = (
            sa.select(sa.func.max(_notes.c.id))
            .where(_notes.c.team_id == team_id, one_of(_notes.c.patient_id, patient_ids))
            .group_by(_notes.c.patient_id)
        )
        query = sa.select(_notes).where(_notes.c.id.in_(newest))
        return {r.patient_id: _note_of_row(r) for r in await self._read(lambda c: c.execute(query).all())}

    async def plan_note_history(self, team_id: str, patient_id: str) -> list[PlanNote]:
        """Every version, newest first."""
        query = (
            sa.select(_notes)
            .where(_notes.c.team_id == team_id, _notes.c.patient_id == patient_id)
            .order_by(_notes.c.written_at.desc(), _notes.c.id.desc())
        )
        return [_note_of_row(r) for r in await self._read(lambda c: c.execute(query).all())]
