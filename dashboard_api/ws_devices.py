"""The technician's live fleet: `/devices/live[?site_id=s1]` sends every device of the sites (seq 0), then the whole
list again, with the next seq, whenever anything on it changed. Read from the store once per FLEET_POLL_S: device
status and readings arrive through ingest's store, and a device in stock belongs to no ward's event stream. It closes
as the other streams do (ws.py's pump): 4401 when the token ends, 4410 when its user is disabled or loses a site."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from core.errors import StorageUnavailable
from dashboard_api import ws
from dashboard_api.access import ApiContext, audit, get_context
from dashboard_api.auth import DEVICE_ROLES, Principal
from dashboard_api.live import CLIENT_QUEUE_MAX, Subscription
from dashboard_api.schemas_devices import FleetDeviceOut, FleetOut
from dashboard_api.ws_access import AccessWatch, lost_access
from devices.fleet import fleet_report

__all__ = ["BATTERY_LOW_PERCENT", "FLEET_POLL_S", "router"]

logger = logging.getLogger(__name__)

router = APIRouter()

# A device going offline or sending its first reading shows within this (one store read per open page per tick;
# a technician has one or two pages open, a site a few hundred devices).
FLEET_POLL_S = 1.0
# Settings.battery_low_percent's default: the health checker raises its alert below it; the page warns likewise.
BATTERY_LOW_PERCENT = 15.0


@router.websocket("/live")
async def fleet_stream(websocket: WebSocket) -> None:
    with ws.counted_stream(websocket):
        principal = await ws.accept_stream(websocket)  # the other streams' handshake, close codes and quota
        if principal is None:
            return
        ctx = get_context(websocket)
        site_id = websocket.query_params.get("site_id")
        if principal.role not in DEVICE_ROLES:
            await ws.close_stream(websocket, 4403, f"Role {principal.role.value} may not watch devices")
            return
        if site_id is not None and not principal.may_see(site_id):
            await ws.close_stream(websocket, 4403, f"Your token does not grant access to site {site_id}")
            return
        site_ids = [site_id] if site_id else await _sites_of(ctx, principal)
        await audit(ctx, principal, "watch.devices", ",".join(site_ids))
        try:
            await _serve(websocket, ctx, principal, site_ids)
        except StorageUnavailable:
            await ws.close_stream(websocket, 4503, "The store does not answer; reconnecting")


async def _serve(websocket: WebSocket, ctx: ApiContext, principal: Principal, site_ids: list[str]) -> None:
    """The fleet (seq 0), then through the other streams' pump (which closes on the client leaving, the token's
    expiry, lost access, a failed read): the fleet again each time it changed, looked at every FLEET_POLL_S."""
    watch: AccessWatch = websocket.app.state.access_watch
    with watch.watch(principal.user_id) as changed:
        at = ctx.clock()
        shown = await _fleet(ctx, site_ids, at)
        try:
            await websocket.send_text(FleetOut(seq=0, at=at, devices=shown).model_dump_json())
        except (WebSocketDisconnect, OSError):
            return
        subscription = Subscription([], queue_max=CLIENT_QUEUE_MAX)
        expires_in_s = (principal.expires_at - ctx.clock()).total_seconds()
        async with asyncio.TaskGroup() as group:
            poller = group.create_task(_poll(ctx, site_ids, subscription, shown), name="ws-fleet-poll")
            revoked = lost_access(ctx, principal, changed, [], sites=site_ids)
            await ws.pump_stream(websocket, subscription, _as_is, expires_in_s=expires_in_s, revoked=revoked)
            poller.cancel()


async def _fleet(ctx: ApiContext, site_ids: list[str], at: datetime) -> list[FleetDeviceOut]:
    rows = await fleet_report(ctx.store, site_ids, battery_low_percent=BATTERY_LOW_PERCENT, now=at)
    return [FleetDeviceOut.of(row) for row in rows]


async def _poll(ctx: ApiContext, site_ids: list[str], subscription: Subscription, shown: list[FleetDeviceOut]) -> None:
    """Forever: read the fleet, and queue it (without seq: the pump numbers it) when it changed."""
    while True:
        await asyncio.sleep(FLEET_POLL_S)
        at = ctx.clock()
        try:
            devices = await _fleet(ctx, site_ids, at)
        except StorageUnavailable as exc:
            subscription.interrupt(f"the store did not answer: {exc}")  # the page reconnects and resnapshots
            return
        if devices != shown:
            subscription.offer(FleetOut(seq=0, at=at, devices=devices).model_dump_json(exclude={"seq"}))
            shown = devices


async def _as_is(message: str) -> list[str]:
    return [message]


async def _sites_of(ctx: ApiContext, principal: Principal) -> list[str]:
    if principal.all_sites:
        return [site.site_id for site in await ctx.store.list_sites()]
    return list(principal.site_ids)
