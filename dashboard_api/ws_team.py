"""The live team board: `/ws/teams/{team_id}` sends the board (seq 0), then a patient's row again, with the next seq,
whenever something of theirs changes: an alert, a reading or score through the live hub (from any site's ward the
team's patients lie in), a task, plan note or worklist item through the store (read every TEAM_POLL_S).

When the team's patients or their wards change (a patient joins the team, is admitted to a KAD bed, goes home) the
stream closes with 4503 and the page takes a fresh snapshot over the new wards."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict

from core.errors import NotFound, StorageUnavailable
from core.outreach import Team, TeamChanges
from dashboard_api.access import ApiContext, audit, audit_patients, get_context, team_grant
from dashboard_api.auth import CLINICAL_ROLES, DisabledUser, InvalidToken, Principal, UnknownUser, registered_principal
from dashboard_api.live import Delta, LiveHub, Subscription
from dashboard_api.schemas_team import BoardRowOut, TeamOut
from dashboard_api.team_board import board_rows
from dashboard_api.ws import CloseCode, accept_stream, close_stream, counted_stream, pump_stream
from dashboard_api.ws_access import AccessWatch

__all__ = ["ROW_REFRESH_S", "TEAM_POLL_S", "router"]

logger = logging.getLogger(__name__)

router = APIRouter()

# A colleague's action on a task or plan note shows on every open board within this; one store read per open board
# per poll (a team has a handful of members with the board open).
TEAM_POLL_S = 2.0
# A bedside monitor sends every second; a patient's row is read again for readings and scores at most this often
# (an alert always at once): the board is read by people, and ten patients at 1 Hz would be ten reads a second.
ROW_REFRESH_S = 5.0
Expand = Callable[[str], Awaitable[list[str]]]
# What the poll puts on the stream's queue to have rows read again: not JSON the hub could ever send.
_POLL_MARK = "\x00team-rows:"


class _TeamSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True)
    type: str = "snapshot"
    seq: int = 0
    at: datetime
    team: TeamOut
    rows: list[BoardRowOut]
    truncated: bool  # the rows' tasks were more than TASKS_MAX: older tasks of patients with many are not on them


class _RowDelta(BaseModel):
    model_config = ConfigDict(frozen=True)
    type: str = "row"
    at: datetime
    row: BoardRowOut
    truncated: bool  # the read this row came from had more than TASKS_MAX tasks: the row's oldest may be left out


@router.websocket("/ws/teams/{team_id}")
async def team_stream(websocket: WebSocket, team_id: str) -> None:
    with counted_stream(websocket):
        await _team_stream(websocket, team_id)


async def _member_team(ctx: ApiContext, principal: Principal, team_id: str) -> Team | None:
    try:
        team = await ctx.store.get_team(team_id)
    except NotFound:
        team = None
    if team is None or not await ctx.store.is_team_member(team_id, principal.user_id, at=ctx.clock()):
        why = "no such team" if team is None else "not a member"
        await audit(ctx, principal, "denied.ws.team_board", team_id, why, grant="")
        return None
    return team


async def _team_stream(websocket: WebSocket, team_id: str) -> None:
    ctx = get_context(websocket)
    principal = await accept_stream(websocket)
    if principal is None:
        return
    if principal.role not in CLINICAL_ROLES:
        await audit(ctx, principal, "denied.role", websocket.url.path, f"role {principal.role.value}", grant="")
        await close_stream(websocket, CloseCode.FORBIDDEN, f"Role {principal.role.value} may not watch a team")
        return
    try:
        team = await _member_team(ctx, principal, team_id)
        if team is None:
            await close_stream(websocket, CloseCode.NOT_FOUND, f"Team {team_id} not found")
            return
        await _serve(websocket, ctx, principal, team)
    except StorageUnavailable:
        logger.warning("Team board %s: store unavailable", team_id)
        await close_stream(websocket, CloseCode.UNAVAILABLE, "Store unavailable; reconnect shortly")


async def _placed(ctx: ApiContext, team: Team) -> tuple[list[str], list[str]]:
    """The team's patients now and the wards they are in."""
    at = ctx.clock()
    patient_ids = await ctx.store.team_patients(team.team_id, at=at)
    stays = await ctx.store.stays_of_patients(patient_ids, at=at)
    return patient_ids, sorted({stay.ward_id for stay in stays.values()})


async def _serve(websocket: WebSocket, ctx: ApiContext, principal: Principal, team: Team) -> None:
    hub: LiveHub = websocket.app.state.live
    watch: AccessWatch = websocket.app.state.access_watch
    patient_ids, ward_ids = await _placed(ctx, team)
    with hub.subscribe(ward_ids) as subscription, watch.watch(principal.user_id) as changed:  # before the snapshot
        cursor = await ctx.store.team_changes(team.team_id, patient_ids, after=TeamChanges())
        at = ctx.clock()
        rows, truncated = await board_rows(ctx.store, team, patient_ids, at=at)
        grant = team_grant(team.kind)
        await audit_patients(ctx, principal, "ws.team_board", team.team_id, {pid: grant for pid in patient_ids})
        snapshot = _TeamSnapshot(at=at, team=TeamOut.of(team), rows=rows, truncated=truncated)
        try:
            await websocket.send_text(snapshot.model_dump_json())
        except (WebSocketDisconnect, OSError):
            return
        expires_in_s = (principal.expires_at - ctx.clock()).total_seconds()
        expand = _row_deltas(ctx, team, frozenset(patient_ids))
        poll = _poll(ctx, team, subscription, (patient_ids, ward_ids), cursor)
        async with asyncio.TaskGroup() as group:
            poller = group.create_task(poll, name=f"ws-team-poll-{team.team_id}")
            revoked = _lost_team(ctx, principal, team.team_id, changed)
            await pump_stream(websocket, subscription, expand, expires_in_s=expires_in_s, revoked=revoked)
            poller.cancel()


def _row_deltas(ctx: ApiContext, team: Team, patients: frozenset[str]) -> Expand:
    """Each hub event or poll mark of the team's patients becomes their rows read again (`{"type": "row", ...}`);
    readings and scores at most once per ROW_REFRESH_S per patient, alerts at once. Other patients' events: nothing."""
    refreshed_at: dict[str, float] = {}

    async def expand(message: str) -> list[str]:
        if message.startswith(_POLL_MARK):
            wanted = set(json.loads(message[len(_POLL_MARK) :])) & patients
        elif isinstance(message, Delta):
            wanted = set(message.patients & patients)
            if message.event_type != "alert":
                now = time.monotonic()
                wanted = {p for p in wanted if now - refreshed_at.get(p, -ROW_REFRESH_S) >= ROW_REFRESH_S}
        else:
            return []
        if not wanted:
            return []
        for patient_id in wanted:
            refreshed_at[patient_id] = time.monotonic()
        at = ctx.clock()
        rows, truncated = await board_rows(ctx.store, team, sorted(wanted), at=at)
        return [_RowDelta(at=at, row=row, truncated=truncated).model_dump_json() for row in rows]

    return expand


async def _poll(
    ctx: ApiContext,
    team: Team,
    subscription: Subscription,
    placed: tuple[list[str], list[str]],
    cursor: TeamChanges,
) -> None:
    """Every TEAM_POLL_S: rows whose tasks, notes or items changed go on the stream's queue; a change of the team's
    patients or of their wards interrupts the stream (the page resnapshots). An outage waits for the next poll."""
    while True:
        await asyncio.sleep(TEAM_POLL_S)
        try:
            if await _placed(ctx, team) != placed:
                subscription.interrupt(f"the patients of team {team.team_id} or their wards changed")
                return
            cursor = await ctx.store.team_changes(team.team_id, placed[0], after=cursor)
        except StorageUnavailable:
            logger.warning("Team board %s: store unavailable; polling again", team.team_id)
            continue
        if cursor.patient_ids:
            subscription.offer(_POLL_MARK + json.dumps(sorted(cursor.patient_ids)))


async def _lost_team(ctx: ApiContext, principal: Principal, team_id: str, changed: asyncio.Event) -> str:
    """Wait until the principal is disabled, loses the role, or leaves the team; the reason for the close frame."""
    while True:
        await changed.wait()
        changed.clear()
        try:
            await registered_principal(
                ctx.store, user_id=principal.user_id, role=principal.role, site_ids=principal.site_ids,
                token_id=principal.token_id, expires_at=principal.expires_at,
            )  # fmt: skip
        except (DisabledUser, UnknownUser):
            return f"User {principal.user_id} is disabled; this stream is closed"
        except InvalidToken as exc:
            return f"Access withdrawn: {exc}"
        if not await ctx.store.is_team_member(team_id, principal.user_id, at=ctx.clock()):
            return f"Membership of team {team_id} ended; this stream is closed"
