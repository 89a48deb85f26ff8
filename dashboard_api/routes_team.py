"""REST for a team's members: the teams they are in, the team board with its shared plan notes, and the team's
outreach tasks (take, assign, notes, done with an outcome). Team members only; every call audited naming the patient
(docs/HOME_AND_TEAMS.md, "Teams and outreach", "The team board")."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status

from core.errors import Conflict, NotFound
from core.outreach import OutreachOutcome, OutreachState, OutreachTask, PlanNote, Team
from dashboard_api.access import ApiContext, Ctx, audit, audit_patients, team_grant
from dashboard_api.auth import CLINICAL_ROLES, Principal, require_roles
from dashboard_api.change_audit import audited_change
from dashboard_api.routes_homecare import TRUNCATED_HEADER
from dashboard_api.schemas_team import (
    AssignIn,
    BoardOut,
    DoneIn,
    PlanNoteHistoryOut,
    PlanNoteIn,
    PlanNoteOut,
    TaskDetailOut,
    TaskEventOut,
    TaskNoteIn,
    TaskOut,
    TeamOut,
)
from dashboard_api.team_board import TASKS_MAX, board_rows, task_page

__all__ = ["Clinician", "authorised_team", "router"]

router = APIRouter()

Clinician = Annotated[Principal, Depends(require_roles(*CLINICAL_ROLES))]
_CUT_TASKS: dict[int | str, dict[str, Any]] = {200: {"headers": {TRUNCATED_HEADER: {
    "description": f"`true` when the tasks were more than {TASKS_MAX}: older tasks of patients with many are left "
    "out, never a patient's most pressing one", "schema": {"type": "string", "enum": ["true", "false"]},
}}}}  # fmt: skip


async def authorised_team(ctx: ApiContext, principal: Principal, team_id: str, *, action: str) -> Team:
    """The team, when the principal is a current member; otherwise 404 (unknown and not theirs alike), audited as
    refused. The caller audits what it shows, one row per patient."""
    try:
        team = await ctx.store.get_team(team_id)
    except NotFound:
        team = None
    if team is None or not await ctx.store.is_team_member(team_id, principal.user_id, at=ctx.clock()):
        why = "no such team" if team is None else "not a member"
        await audit(ctx, principal, f"denied.{action}", team_id, why, grant="")
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Team {team_id} not found")
    return team


@router.get("/teams", response_model=list[TeamOut], summary="The teams the caller is a member of now")
async def my_teams(ctx: Ctx, principal: Clinician) -> list[TeamOut]:
    return [TeamOut.of(t) for t in await ctx.store.teams_of_member(principal.user_id, at=ctx.clock())]


@router.get(
    "/teams/{team_id}/board",
    response_model=BoardOut,
    summary="The team's patients wherever they are",
    responses=_CUT_TASKS,
)
async def get_board(team_id: str, ctx: Ctx, principal: Clinician, response: Response) -> BoardOut:
    """A row per patient the team follows now, most urgent first; one audit row per patient. The rows' tasks are the
    first TASKS_MAX in the order of the task list: `X-Truncated: true` when there were more."""
    team = await authorised_team(ctx, principal, team_id, action="read.team_board")
    at = ctx.clock()
    patient_ids = await ctx.store.team_patients(team_id, at=at)
    rows, truncated = await board_rows(ctx.store, team, patient_ids, at=at)
    response.headers[TRUNCATED_HEADER] = "true" if truncated else "false"
    grant = team_grant(team.kind)
    await audit_patients(ctx, principal, "read.team_board", team_id, {pid: grant for pid in patient_ids})
    return BoardOut(at=at, team=TeamOut.of(team), rows=rows)


async def _team_patient(ctx: ApiContext, principal: Principal, team_id: str, patient_id: str, *, action: str) -> Team:
    """The team, when the principal is a member and the team follows the patient now (audited naming the patient);
    404 otherwise."""
    team = await authorised_team(ctx, principal, team_id, action=action)
    if patient_id not in await ctx.store.team_patients(team_id, at=ctx.clock()):
        await audit(ctx, principal, f"denied.{action}", patient_id, f"team {team_id}", patient_id=patient_id, grant="")
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Patient {patient_id} is not followed by team {team_id}")
    await audit(ctx, principal, action, patient_id, f"team {team_id}", patient_id=patient_id,
                grant=team_grant(team.kind))  # fmt: skip
    return team


@router.get(
    "/teams/{team_id}/patients/{patient_id}/plan-note",
    response_model=PlanNoteHistoryOut,
    summary="The team's shared plan note for the patient, with every earlier version",
)
async def get_plan_note(team_id: str, patient_id: str, ctx: Ctx, principal: Clinician) -> PlanNoteHistoryOut:
    await _team_patient(ctx, principal, team_id, patient_id, action="read.team_plan_note")
    history = [PlanNoteOut.of(n) for n in await ctx.store.plan_note_history(team_id, patient_id)]
    return PlanNoteHistoryOut(patient_id=patient_id, note=history[0] if history else None, history=history)


@router.put(
    "/teams/{team_id}/patients/{patient_id}/plan-note",
    response_model=PlanNoteOut,
    summary="Write the plan note (a new version; earlier ones are kept)",
)
async def put_plan_note(team_id: str, patient_id: str, body: PlanNoteIn, ctx: Ctx, principal: Clinician) -> PlanNoteOut:
    await _team_patient(ctx, principal, team_id, patient_id, action="write.team_plan_note")
    note = PlanNote(team_id, patient_id, body.text, principal.user_id, ctx.clock())
    await ctx.store.add_plan_note(note)
    return PlanNoteOut.of(note)


@router.get(
    "/teams/{team_id}/tasks", response_model=list[TaskOut], summary="The team's outreach tasks", responses=_CUT_TASKS
)
async def list_tasks(
    team_id: str,
    ctx: Ctx,
    principal: Clinician,
    response: Response,
    state: Annotated[list[OutreachState] | None, Query(description="open and taken unless given")] = None,
) -> list[TaskOut]:
    """Of the patients the team follows now: each patient's most pressing task (open before taken, then the newest)
    first, the newest of those first, then each patient's next. At most TASKS_MAX, chosen in that order:
    `X-Truncated: true` when more matched. One audit row per patient on the list."""
    team = await authorised_team(ctx, principal, team_id, action="read.team_tasks")
    followed = await ctx.store.team_patients(team_id, at=ctx.clock())
    states = state or [OutreachState.OPEN, OutreachState.TAKEN]
    tasks, truncated = await task_page(ctx.store, team_id, states=states, patient_ids=followed)
    response.headers[TRUNCATED_HEADER] = "true" if truncated else "false"
    grant = team_grant(team.kind)
    await audit_patients(ctx, principal, "read.team_tasks", team_id, {t.patient_id: grant for t in tasks})
    return [TaskOut.of(t) for t in tasks]


async def _task(
    ctx: ApiContext, principal: Principal, team_id: str, task_id: str, *, action: str, audited: bool = True
) -> tuple[OutreachTask, str]:
    """The team's task and the grant to its patient; 404 for a task of another team (or none), and for one of a
    patient the team no longer follows (its access to the patient ended with the follow, as for the plan note).
    Audits `action` naming the patient unless the caller will (`audited=False`: after a change that may be refused)."""
    team = await authorised_team(ctx, principal, team_id, action=action)
    try:
        task, _ = await ctx.store.outreach_task(task_id)
    except NotFound:
        task = None
    if task is None or task.team_id != team_id:
        await audit(ctx, principal, f"denied.{action}", task_id, f"team {team_id}", grant="")
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Task {task_id} of team {team_id} not found")
    if task.patient_id not in await ctx.store.team_patients(team_id, at=ctx.clock()):
        await audit(ctx, principal, f"denied.{action}", task_id, f"team {team_id} no longer follows the patient",
                    patient_id=task.patient_id, grant="")  # fmt: skip
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Task {task_id} of team {team_id} not found")
    grant = team_grant(team.kind)
    if audited:
        await audit(ctx, principal, action, task_id, f"team {team_id}", patient_id=task.patient_id, grant=grant)
    return task, grant


def _audited_change(
    ctx: ApiContext, principal: Principal, task: OutreachTask, *, action: str, grant: str
) -> AbstractAsyncContextManager[None]:
    detail = f"team {task.team_id}"
    return audited_change(ctx, principal, action, task.task_id, detail, patient_id=task.patient_id, grant=grant)


@router.get("/teams/{team_id}/tasks/{task_id}", response_model=TaskDetailOut, summary="A task and its history")
async def get_task(team_id: str, task_id: str, ctx: Ctx, principal: Clinician) -> TaskDetailOut:
    await _task(ctx, principal, team_id, task_id, action="read.team_task")
    task, history = await ctx.store.outreach_task(task_id)
    return TaskDetailOut(task=TaskOut.of(task), history=[TaskEventOut.of(e) for e in history])


@router.post("/teams/{team_id}/tasks/{task_id}/take", response_model=TaskOut, summary="Take the task (you own it)")
async def take_task(team_id: str, task_id: str, ctx: Ctx, principal: Clinician) -> TaskOut:
    task, grant = await _task(ctx, principal, team_id, task_id, action="take.team_task", audited=False)
    async with _audited_change(ctx, principal, task, action="take.team_task", grant=grant):
        taken = await _update(ctx, task_id, actor=principal.user_id, action="taken")
    return taken


@router.post("/teams/{team_id}/tasks/{task_id}/assign", response_model=TaskOut, summary="Give it to a team member")
async def assign_task(team_id: str, task_id: str, body: AssignIn, ctx: Ctx, principal: Clinician) -> TaskOut:
    task, grant = await _task(ctx, principal, team_id, task_id, action="assign.team_task", audited=False)
    async with _audited_change(ctx, principal, task, action="assign.team_task", grant=grant):
        if not await ctx.store.is_team_member(team_id, body.user_id, at=ctx.clock()):
            detail = f"user_id: {body.user_id} is not a member of team {team_id}"
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)
        assigned = await _update(ctx, task_id, actor=principal.user_id, action="assigned", assignee=body.user_id,
                                 text=f"to {body.user_id}")  # fmt: skip
    return assigned


@router.post("/teams/{team_id}/tasks/{task_id}/notes", response_model=TaskOut, summary="Add a note to its history")
async def note_task(team_id: str, task_id: str, body: TaskNoteIn, ctx: Ctx, principal: Clinician) -> TaskOut:
    task, grant = await _task(ctx, principal, team_id, task_id, action="note.team_task", audited=False)
    async with _audited_change(ctx, principal, task, action="note.team_task", grant=grant):
        noted = await _update(ctx, task_id, actor=principal.user_id, action="note", text=body.text)
    return noted


@router.post("/teams/{team_id}/tasks/{task_id}/done", response_model=TaskOut, summary="Finish with an outcome")
async def finish_task(team_id: str, task_id: str, body: DoneIn, ctx: Ctx, principal: Clinician) -> TaskOut:
    """Outcome: reached the patient, home visit, or not reached (escalated); the note says what was done."""
    task, grant = await _task(ctx, principal, team_id, task_id, action="done.team_task", audited=False)
    async with _audited_change(ctx, principal, task, action="done.team_task", grant=grant):
        done = await _update(ctx, task_id, actor=principal.user_id, action="done", text=body.note, outcome=body.outcome)
    return done


async def _update(
    ctx: ApiContext,
    task_id: str,
    *,
    actor: str,
    action: str,
    text: str = "",
    assignee: str | None = None,
    outcome: OutreachOutcome | None = None,
) -> TaskOut:
    try:
        task = await ctx.store.update_outreach_task(
            task_id, actor=actor, action=action, at=ctx.clock(), text=text, assignee=assignee, outcome=outcome
        )
    except Conflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, f"Task {task_id}: {exc.reason}") from None
    return TaskOut.of(task)
