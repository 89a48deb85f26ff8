"""The live worklist: `/ws/sites/{site_id}/worklist` sends a programme's open and claimed items (seq 0; the most
urgent WORKLIST_MAX, `truncated` when there were more), then each change with the next seq: an item opened, raised,
claimed, assigned, escalated or noted (`{"type": "item", ...}`), or closed or pushed off a cut list by more urgent
ones (`{"type": "removed", "item_id": ...}`). Items are written by ingest (threshold breaches), the alert timers
(alert items, plan checks) and the API, in any process: the stream reads the list from the store every
WORKLIST_POLL_S and sends what changed. Token as subprotocol, per-user socket quota, 4410 on lost access and 4503
when the store does not answer, as the ward streams (docs/API.md)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict

from core.errors import StorageUnavailable
from core.homecare import WorklistState
from dashboard_api.access import ApiContext, audit, audit_patients, get_context, site_grant
from dashboard_api.auth import CLINICAL_ROLES, Principal
from dashboard_api.live import CLIENT_QUEUE_MAX, Subscription
from dashboard_api.routes_homecare import worklist_page
from dashboard_api.schemas_homecare import WorklistItemOut
from dashboard_api.ws import CloseCode, accept_stream, close_stream, counted_stream, pump_stream
from dashboard_api.ws_access import AccessWatch, lost_access

__all__ = ["WORKLIST_POLL_S", "router"]

logger = logging.getLogger(__name__)

router = APIRouter()

# A new or changed item shows on every open worklist within this. One indexed read of the programme's open items per
# open page per poll: a programme has a handful of coordinators, and 500 patients' items are read and ordered in
# 12-17 ms (p50, bench/bench_worklist.py, on 2 shared cores; SQLite and PostgreSQL alike).
WORKLIST_POLL_S = 1.0
_OPEN = (WorklistState.OPEN, WorklistState.CLAIMED)


class _Snapshot(BaseModel):
    model_config = ConfigDict(frozen=True)
    type: str = "snapshot"
    seq: int = 0
    at: datetime
    site_id: str
    items: list[WorklistItemOut]
    truncated: bool  # more items than WORKLIST_MAX are open: the least urgent and oldest are not on it


class _ItemDelta(BaseModel):
    model_config = ConfigDict(frozen=True)
    type: str = "item"
    at: datetime
    item: WorklistItemOut
    truncated: bool


class _Removed(BaseModel):
    model_config = ConfigDict(frozen=True)
    type: str = "removed"
    at: datetime
    item_id: str
    truncated: bool


class _Cut(BaseModel):
    """The list became cut, or whole again, while no item on it changed (an item left out is not on it)."""

    model_config = ConfigDict(frozen=True)
    type: str = "cut"
    at: datetime
    truncated: bool


@router.websocket("/ws/sites/{site_id}/worklist")
async def worklist_stream(websocket: WebSocket, site_id: str) -> None:
    with counted_stream(websocket):
        ctx = get_context(websocket)
        principal = await accept_stream(websocket)
        if principal is None:
            return
        if principal.role not in CLINICAL_ROLES or not principal.may_see(site_id):
            await audit(ctx, principal, "denied.ws.worklist", site_id, f"role {principal.role.value}", grant="")
            await close_stream(websocket, CloseCode.NOT_FOUND, f"Site {site_id} not found")
            return
        try:
            await _serve(websocket, ctx, principal, site_id)
        except StorageUnavailable:
            logger.warning("Worklist stream of %s: store unavailable", site_id)
            await close_stream(websocket, CloseCode.UNAVAILABLE, "Store unavailable; reconnect shortly")


async def _items(ctx: ApiContext, site_id: str) -> tuple[dict[str, WorklistItemOut], bool]:
    items, truncated = await worklist_page(ctx, site_id, _OPEN)  # the most urgent first, then the oldest
    return {item.item_id: WorklistItemOut.of(item) for item in items}, truncated


async def _serve(websocket: WebSocket, ctx: ApiContext, principal: Principal, site_id: str) -> None:
    watch: AccessWatch = websocket.app.state.access_watch
    with watch.watch(principal.user_id) as changed:
        shown, truncated = await _items(ctx, site_id)
        grant = site_grant(site_id)
        await audit_patients(ctx, principal, "ws.worklist", site_id, {i.patient_id: grant for i in shown.values()})
        snapshot = _Snapshot(at=ctx.clock(), site_id=site_id, items=list(shown.values()), truncated=truncated)
        try:
            await websocket.send_text(snapshot.model_dump_json())
        except (WebSocketDisconnect, OSError):
            return
        subscription = Subscription([], queue_max=CLIENT_QUEUE_MAX)
        expires_in_s = (principal.expires_at - ctx.clock()).total_seconds()

        async def passthrough(message: str) -> list[str]:
            return [message]

        async with asyncio.TaskGroup() as group:
            polled = _poll(ctx, principal, site_id, subscription, shown, truncated=truncated)
            poller = group.create_task(polled, name=f"ws-wl-{site_id}")
            revoked = lost_access(ctx, principal, changed, (), sites=(site_id,))
            await pump_stream(websocket, subscription, passthrough, expires_in_s=expires_in_s, revoked=revoked)
            poller.cancel()


async def _poll(
    ctx: ApiContext,
    principal: Principal,
    site_id: str,
    subscription: Subscription,
    shown: dict[str, WorklistItemOut],
    *,
    truncated: bool,
) -> None:
    """Forever: read the list, queue a delta per item that is new or changed and per item that left it (closed, or
    pushed off a cut list), each saying whether the list is cut now; a `cut` delta when only that changed."""
    was_cut = truncated
    while True:
        await asyncio.sleep(WORKLIST_POLL_S)
        try:
            now_items, truncated = await _items(ctx, site_id)
        except StorageUnavailable as exc:
            subscription.interrupt(f"the store did not answer: {exc}")  # the page reconnects and resnapshots
            return
        at = ctx.clock()
        new_patients = {i.patient_id for i in now_items.values()} - {i.patient_id for i in shown.values()}
        if new_patients:
            grant = site_grant(site_id)
            await audit_patients(ctx, principal, "ws.worklist", site_id, dict.fromkeys(new_patients, grant))
        for item_id, item in now_items.items():
            if shown.get(item_id) != item:
                subscription.offer(_ItemDelta(at=at, item=item, truncated=truncated).model_dump_json())
        for item_id in shown.keys() - now_items.keys():
            subscription.offer(_Removed(at=at, item_id=item_id, truncated=truncated).model_dump_json())
        if truncated != was_cut and now_items == shown:
            subscription.offer(_Cut(at=at, truncated=truncated).model_dump_json())
        shown, was_cut = now_items, truncated
