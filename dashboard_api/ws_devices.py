"""The technician's live fleet: `/devices/live[?site_id=s1]` sends every device of the sites (seq 0), then the whole
list again, with the next seq, whenever anything on it changed. Read from the store once per FLEET_POLL_S: device
status and readings arrive through ingest's store, and a device in stock belongs to no ward's event stream."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from typing import cast

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from core.errors import StorageUnavailable
from dashboard_api import ws
from dashboard_api.access import ApiContext, audit, get_context
from dashboard_api.auth import DEVICE_ROLES, InvalidToken, Principal, authenticate
from dashboard_api.schemas_devices import FleetDeviceOut, FleetOut
from devices.fleet import fleet_report

__all__ = ["BATTERY_LOW_PERCENT", "FLEET_POLL_S", "router"]

logger = logging.getLogger(__name__)

router = APIRouter()

# A device going offline or sending its first reading shows within this (one store read per open page per tick;
# a technician has one or two pages open, a site a few hundred devices).
FLEET_POLL_S = 1.0
# Settings.battery_low_percent's default: the health checker raises its alert below it; the page warns likewise.
BATTERY_LOW_PERCENT = 15.0
_SUBPROTOCOL = "bearer"
_CLOSE_TIMEOUT_S = 5.0
_REASON_MAX_BYTES = 123


@router.websocket("/live")
async def fleet_stream(websocket: WebSocket) -> None:
    principal = await _accept(websocket)
    if principal is None:
        return
    ctx = get_context(websocket)
    site_id = websocket.query_params.get("site_id")
    if principal.role not in DEVICE_ROLES:
        await _close(websocket, 4403, f"Role {principal.role.value} may not watch devices")
        return
    if site_id is not None and not principal.may_see(site_id):
        await _close(websocket, 4403, f"Your token does not grant access to site {site_id}")
        return
    site_ids = [site_id] if site_id else await _sites_of(ctx, principal)
    await audit(ctx, principal, "watch.devices", ",".join(site_ids))
    quota = websocket.app.state.socket_quota
    if not quota.admit(principal.user_id, websocket):
        await _close(websocket, 4409, f"You have {quota.limit} live streams open on this server; close a tab or page")
        return
    try:
        await _send_changes(websocket, ctx, site_ids)
    except (WebSocketDisconnect, RuntimeError):
        pass
    except StorageUnavailable:
        await _close(websocket, 4503, "The store does not answer; reconnecting")
    finally:
        quota.release(websocket)


async def _send_changes(websocket: WebSocket, ctx: ApiContext, site_ids: list[str]) -> None:
    """Until the client leaves (or the server stops): the fleet each time it changed, looked at every FLEET_POLL_S."""
    seq, last = 0, None
    loop = asyncio.get_running_loop()
    sent_at = loop.time()
    receiving = asyncio.ensure_future(websocket.receive())  # only to hear the close; the page sends nothing else
    try:
        while True:
            now = ctx.clock()
            rows = await fleet_report(ctx.store, site_ids, battery_low_percent=BATTERY_LOW_PERCENT, now=now)
            devices = [FleetDeviceOut.of(row) for row in rows]
            if devices != last:
                await websocket.send_text(FleetOut(seq=seq, at=now, devices=devices).model_dump_json())
                seq, last, sent_at = seq + 1, devices, loop.time()
            elif loop.time() - sent_at >= ws.HEARTBEAT_S:
                await websocket.send_text(ws.heartbeat(seq - 1))  # seq - 1: the last fleet sent
                sent_at = loop.time()
            done, _ = await asyncio.wait({receiving}, timeout=FLEET_POLL_S)
            if done:
                if receiving.result()["type"] == "websocket.disconnect":
                    return
                receiving = asyncio.ensure_future(websocket.receive())
    finally:
        receiving.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await receiving


async def _sites_of(ctx: ApiContext, principal: Principal) -> list[str]:
    if principal.all_sites:
        return [site.site_id for site in await ctx.store.list_sites()]
    return list(principal.site_ids)


async def _accept(websocket: WebSocket) -> Principal | None:
    """Accept, then authenticate from `Sec-WebSocket-Protocol: bearer, <token>` (as the ward streams do)."""
    offered: list[str] = websocket.scope.get("subprotocols") or []
    if len(offered) != 2 or offered[0] != _SUBPROTOCOL:
        await websocket.accept()
        await _close(websocket, 4401, "Send the token as subprotocols ['bearer', <token>]")
        return None
    await websocket.accept(subprotocol=_SUBPROTOCOL)
    try:
        checked: object = authenticate(websocket, offered[1])
        # authenticate resolves the user in the registry (a coroutine) where one is configured; plain otherwise.
        return cast(Principal, await checked if inspect.isawaitable(checked) else checked)
    except InvalidToken as exc:
        await _close(websocket, 4401, f"Token rejected: {exc}")
        return None


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    text = reason.encode()[:_REASON_MAX_BYTES].decode(errors="ignore")
    with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError, TimeoutError):
        async with asyncio.timeout(_CLOSE_TIMEOUT_S):
            await websocket.close(code, text)
