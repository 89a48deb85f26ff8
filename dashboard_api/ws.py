"""WebSocket streams: a snapshot (ward boards, or the alerts a user covers), then every delta in order, each with the
connection's seq. A delta the stream cannot complete from the store closes it (4503): the client resnapshots."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from core.errors import NotFound, StorageUnavailable
from dashboard_api.access import ApiContext, WardAccess, audit, get_context, refuse_ward, ward_access
from dashboard_api.auth import (
    CLINICAL_ROLES,
    IdentityUnavailable,
    InvalidToken,
    Principal,
    UnregisteredUser,
    authenticate,
)
from dashboard_api.covered import coverage_of, covered_rows
from dashboard_api.escalation_words import escalation_state
from dashboard_api.live import HEARTBEAT_DUE, Delta, LiveHub, Subscription
from dashboard_api.routes_covered import audit_rows, covered_alerts
from dashboard_api.schemas import LiveSnapshot
from dashboard_api.schemas_covered import CoveredRowDelta, CoveredSnapshot, EscalationDelta
from dashboard_api.snapshot import ward_snapshot
from dashboard_api.socket_quota import SocketQuota
from dashboard_api.ws_access import AccessWatch, audit_snapshot, lost_access, stream_filter

__all__ = [
    "HEARTBEAT_S",
    "MAX_WARDS_PER_STREAM",
    "CloseCode",
    "accept_stream",
    "close_stream",
    "counted_stream",
    "heartbeat",
    "pump_stream",
    "router",
]

logger = logging.getLogger(__name__)

router = APIRouter()

SUBPROTOCOL = "bearer"
# A specialist covering several units watches a handful; each ward's snapshot is read from the store on connect.
MAX_WARDS_PER_STREAM = 20
# Turns one hub message into what this connection sends (zero or more JSON objects, without seq). May read the store.
Expand = Callable[[str], Awaitable[list[str]]]
# The hub's events are compact JSON; only alert events need more than forwarding (a cheap test before decoding).
_ALERT_MARK = '"type":"alert"'
# A close frame's reason is at most 123 bytes (RFC 6455 §5.5).
_REASON_MAX_BYTES = 123
# A stuck client may never read our close frame; give up on it after this long.
CLOSE_TIMEOUT_S = 5.0
# A stream with nothing to send for this long sends a heartbeat: the page takes a stream silent for three of them as
# a dead connection (a half-open TCP connection looks "Live" for ever otherwise), and a proxy's idle timeout (often
# 60 s) never closes a quiet ward's stream. Its `seq` is the last one sent, so a lost last delta shows too.
HEARTBEAT_S = 15.0


class CloseCode(enum.IntEnum):
    """Application close codes: 4000 + the HTTP status that means the same (docs/API.md)."""

    BAD_REQUEST = 4400
    UNAUTHENTICATED = 4401  # no token, bad token, or the token expired while connected
    FORBIDDEN = 4403
    NOT_FOUND = 4404
    ACCESS_REVOKED = 4410  # the user was disabled, or lost the role, site or care-team membership this stream used
    TOO_MANY_SOCKETS = 4409  # this user already holds MAX_SOCKETS_PER_USER sockets on this node: close one
    TOO_SLOW = 4429  # this client fell behind: reconnect for a fresh snapshot
    UNAVAILABLE = 4503  # the store did not answer, or the live feed may have missed an event: reconnect with backoff


@router.websocket("/ws/wards/{ward_id}")
async def ward_stream(websocket: WebSocket, ward_id: str) -> None:
    with _counted(websocket):
        await _stream(websocket, [ward_id])


@router.websocket("/ws/live")
async def multi_ward_stream(websocket: WebSocket) -> None:
    """Several wards on one socket: `?wards=a,b,c`."""
    ward_ids = [w for w in websocket.query_params.get("wards", "").split(",") if w]
    with _counted(websocket):
        if not ward_ids or len(ward_ids) > MAX_WARDS_PER_STREAM:
            principal = await _accept(websocket)
            if principal is not None:
                await _close(websocket, CloseCode.BAD_REQUEST, f"Give 1-{MAX_WARDS_PER_STREAM} ward ids as ?wards=a,b")
            return
        await _stream(websocket, list(dict.fromkeys(ward_ids)))


async def _stream(websocket: WebSocket, ward_ids: list[str]) -> None:
    ctx = get_context(websocket)
    hub: LiveHub = websocket.app.state.live
    principal = await _accept(websocket)
    if principal is None:
        return
    wards = await _authorised_wards(websocket, ctx, principal, ward_ids)
    if wards is None:
        return
    watch: AccessWatch = websocket.app.state.access_watch
    seen: set[str] = set()  # patients audited on this connection
    with hub.subscribe(ward_ids) as subscription, watch.watch(principal.user_id) as changed:  # before the snapshot
        at = ctx.clock()
        try:
            boards = [await ward_snapshot(ctx.store, w.ward, at=at, only=w.patients()) for w in wards]
        except StorageUnavailable:
            logger.warning("No snapshot of wards %s: store unavailable", ",".join(ward_ids))
            await _close(websocket, CloseCode.UNAVAILABLE, "Store unavailable; reconnect shortly")
            return
        snapshot = LiveSnapshot(at=at, wards=boards)
        subscription.fit_board(sum(len(board.beds) for board in boards))
        for access, board in zip(wards, boards, strict=True):
            await audit_snapshot(ctx, principal, access, [b.patient.patient_id for b in board.beds if b.patient], seen)
        try:
            await websocket.send_text(snapshot.model_dump_json())
        except (WebSocketDisconnect, OSError):
            return
        expires_in_s = (principal.expires_at - ctx.clock()).total_seconds()
        expand = stream_filter(ctx, principal, wards, seen, _with_escalation(ctx))
        revoked = lost_access(ctx, principal, changed, wards)
        await _pump(websocket, subscription, expand, expires_in_s=expires_in_s, revoked=revoked)


def _with_escalation(ctx: ApiContext) -> Expand:
    """Each event as it is; after an alert event, that alert's escalation state as stored now."""

    async def expand(message: str) -> list[str]:
        if not _may_be_alert(message):
            return [message]
        event = json.loads(message)
        if event.get("type") != "alert":
            return [message]
        if isinstance(message, Delta):  # the hub's: every dashboard of the ward sends the same state, read once
            return [message, await message.follow_up(lambda: _escalation_delta(ctx, event))]
        return [message, await _escalation_delta(ctx, event)]

    return expand


async def _escalation_delta(ctx: ApiContext, event: dict[str, Any]) -> str:
    alert_id = int(event["alert_id"])
    alert = await ctx.store.get_alert(alert_id)
    chain = await ctx.store.get_escalation(alert_id)
    deliveries = await ctx.store.list_deliveries(alert_id) if chain is not None else []
    at = ctx.clock()
    delta = EscalationDelta(
        at=at,
        site_id=event["site_id"],
        ward_id=event["ward_id"],
        patient_id=alert.patient_id,
        escalation=escalation_state(alert, chain, deliveries, now=at),
    )
    return delta.model_dump_json()


def _may_be_alert(message: str) -> bool:
    """A cheap test before decoding: the hub says what each of its deltas is (a batch never holds an alert)."""
    if isinstance(message, Delta):
        return message.event_type == "alert"
    return _ALERT_MARK in message


@router.websocket("/ws/alerts")
async def covered_stream(websocket: WebSocket) -> None:
    """Every open alert in the units the user covers (as GET /me/alerts), then a row per alert that changes."""
    with _counted(websocket):
        await _covered_stream(websocket)


async def _covered_stream(websocket: WebSocket) -> None:
    ctx = get_context(websocket)
    hub: LiveHub = websocket.app.state.live
    principal = await _accept(websocket)
    if principal is None:
        return
    if principal.role not in CLINICAL_ROLES:
        await audit(ctx, principal, "denied.role", websocket.url.path, f"role {principal.role.value}", grant="")
        await _close(websocket, CloseCode.FORBIDDEN, f"Role {principal.role.value} may not watch alerts")
        return
    try:
        coverage = await coverage_of(ctx.store, principal, at=ctx.clock())
    except StorageUnavailable:
        await _close(websocket, CloseCode.UNAVAILABLE, "Store unavailable; reconnect shortly")
        return
    seen: set[str] = set()  # patients audited on this connection
    watch: AccessWatch = websocket.app.state.access_watch
    # Subscribe before the snapshot, so no delta falls between.
    with hub.subscribe(sorted(coverage.wards)) as subscription, watch.watch(principal.user_id) as changed:
        try:
            listed = await covered_alerts(ctx, principal, action="ws.covered_alerts", seen=seen)
        except StorageUnavailable:
            await _close(websocket, CloseCode.UNAVAILABLE, "Store unavailable; reconnect shortly")
            return
        try:
            await websocket.send_text(CoveredSnapshot(**dict(listed)).model_dump_json())
        except (WebSocketDisconnect, OSError):
            return
        expires_in_s = (principal.expires_at - ctx.clock()).total_seconds()

        async def expand(message: str) -> list[str]:
            if not _may_be_alert(message) or json.loads(message).get("type") != "alert":
                return []  # readings and scores are for the ward board
            alert = await ctx.store.get_alert(int(json.loads(message)["alert_id"]))
            at = ctx.clock()
            rows = await covered_rows(ctx.store, coverage, [alert], at=at)
            await audit_rows(ctx, principal, rows, action="ws.covered_alerts", seen=seen)
            return [CoveredRowDelta(at=at, row=row).model_dump_json() for row in rows]

        revoked = lost_access(ctx, principal, changed, [], sites=sorted(coverage.via))  # its coverage: fixed at connect
        await _pump(websocket, subscription, expand, expires_in_s=expires_in_s, revoked=revoked)


async def _accept(websocket: WebSocket) -> Principal | None:
    """Accept, then authenticate from `Sec-WebSocket-Protocol: bearer, <token>`; on failure close with 4401.

    Accepting first lets the browser see the close code and reason (a refused handshake shows only "failed").
    """
    offered: list[str] = websocket.scope.get("subprotocols") or []
    if len(offered) == 2 and offered[0] == SUBPROTOCOL:
        await websocket.accept(subprotocol=SUBPROTOCOL)
        try:
            principal = await authenticate(websocket, offered[1])
        except InvalidToken as exc:
            await _close(websocket, _refusal_code(exc), f"Token rejected: {exc}")
            return None
        quota: SocketQuota = websocket.app.state.socket_quota
        if not quota.admit(principal.user_id, websocket):
            reason = f"You have {quota.limit} live streams open on this server; close a tab or page"
            await _close(websocket, CloseCode.TOO_MANY_SOCKETS, reason)
            return None
        return principal
    await websocket.accept()
    await _close(websocket, CloseCode.UNAUTHENTICATED, "Send the token as subprotocols ['bearer', <token>]")
    return None


def _refusal_code(exc: InvalidToken) -> CloseCode:
    """As REST answers: 503 when the identity provider cannot be asked, 403 for a valid token of an unregistered
    user, else 401."""
    if isinstance(exc, IdentityUnavailable):
        return CloseCode.UNAVAILABLE
    if isinstance(exc, UnregisteredUser):
        return CloseCode.FORBIDDEN
    return CloseCode.UNAUTHENTICATED


@contextlib.contextmanager
def _counted(websocket: WebSocket) -> Iterator[None]:
    """The socket stops counting against its user's quota (admitted in `_accept`) however the stream ends."""
    try:
        yield
    finally:
        quota: SocketQuota = websocket.app.state.socket_quota
        quota.release(websocket)


async def _authorised_wards(
    websocket: WebSocket, ctx: ApiContext, principal: Principal, ward_ids: list[str]
) -> list[WardAccess] | None:
    if principal.role not in CLINICAL_ROLES:
        await audit(ctx, principal, "denied.role", websocket.url.path, f"role {principal.role.value}", grant="")
        await _close(websocket, CloseCode.FORBIDDEN, f"Role {principal.role.value} may not watch wards")
        return None
    wards: list[WardAccess] = []
    for ward_id in ward_ids:
        try:
            ward = await ctx.store.get_ward(ward_id)
        except NotFound:
            await audit(ctx, principal, "denied.ws.ward", ward_id, "no such ward", grant="")
            await _close(websocket, CloseCode.NOT_FOUND, f"Ward {ward_id} not found")
            return None
        access = await ward_access(ctx, principal, ward)
        if access.site is None and not access.team:
            await refuse_ward(ctx, principal, ward, "ws.ward")  # a row per patient on it
            await _close(websocket, CloseCode.NOT_FOUND, f"Ward {ward_id} not found")  # as for an unknown one
            return None
        wards.append(access)
    return wards


async def _pump(
    websocket: WebSocket, subscription: Subscription, expand: Expand, *, expires_in_s: float, revoked: Awaitable[str]
) -> None:
    """Send deltas until the client leaves, falls behind (4429), its token expires (4401), its user loses access
    (4410), a delta cannot be read from the store (4503) or the hub may have missed one (4503: its broker connection
    dropped, or a publish failed)."""
    sender = asyncio.create_task(_send_deltas(websocket, subscription, expand), name="ws-send")
    receiver = asyncio.create_task(_until_client_leaves(websocket), name="ws-receive")
    overflow = asyncio.create_task(subscription.overflowed.wait(), name="ws-overflow")
    interrupted = asyncio.create_task(subscription.interrupted.wait(), name="ws-interrupted")
    expiry = asyncio.create_task(asyncio.sleep(max(expires_in_s, 0.0)), name="ws-expiry")
    lost = asyncio.ensure_future(revoked)
    tasks = (sender, receiver, overflow, interrupted, expiry, lost)
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if lost in done and not lost.cancelled() and lost.exception() is None:
        await _close(websocket, CloseCode.ACCESS_REVOKED, lost.result())
    elif overflow in done:
        logger.warning("Closed a live stream of wards %s: client too slow", ",".join(subscription.ward_ids))
        await _close(websocket, CloseCode.TOO_SLOW, "Too far behind; reconnect for a fresh snapshot")
    elif interrupted in done:
        await _close(websocket, CloseCode.UNAVAILABLE, "Live feed interrupted; reconnect for a fresh snapshot")
    elif expiry in done:
        await _close(websocket, CloseCode.UNAUTHENTICATED, "Token expired; log in again")
    elif sender in done and isinstance(sender.exception(), StorageUnavailable | NotFound):
        logger.warning("Closed a live stream of wards %s: %s", ",".join(subscription.ward_ids), sender.exception())
        await _close(websocket, CloseCode.UNAVAILABLE, "Could not read a change from the store; reconnect")
    elif sender in done and (exc := sender.exception()) is not None and not isinstance(exc, WebSocketDisconnect):
        logger.error("Live stream of wards %s failed", ",".join(subscription.ward_ids), exc_info=exc)


async def _send_deltas(websocket: WebSocket, subscription: Subscription, expand: Expand) -> None:
    seq = 0
    loop = asyncio.get_running_loop()
    sent_at = loop.time()
    timer: asyncio.TimerHandle

    def check_silence() -> None:
        # Counted from the last message sent, not received: a stream whose events all expand to nothing (the alerts
        # stream on a busy ward) still has a heartbeat. One timer per HEARTBEAT_S, not one per delta.
        nonlocal timer
        if loop.time() >= sent_at + HEARTBEAT_S:
            subscription.heartbeat_due()
            timer = loop.call_later(HEARTBEAT_S, check_silence)
        else:
            timer = loop.call_at(sent_at + HEARTBEAT_S, check_silence)

    timer = loop.call_at(sent_at + HEARTBEAT_S, check_silence)
    try:
        while True:
            event = await subscription.next()
            if event is HEARTBEAT_DUE:
                await websocket.send_text(heartbeat(seq))
                sent_at = loop.time()
                continue
            for message in await expand(event):
                seq += 1
                # Each message is a JSON object (the hub encodes an event once); the connection only prepends its seq.
                await websocket.send_text(f'{{"seq":{seq},{message[1:]}')
                sent_at = loop.time()
    finally:
        timer.cancel()


def heartbeat(seq: int) -> str:
    """The message a stream sends after HEARTBEAT_S with nothing else to send: the last seq it sent."""
    return f'{{"type":"heartbeat","seq":{seq}}}'


async def _until_client_leaves(websocket: WebSocket) -> None:
    """Clients have nothing to say after connecting; read (and ignore) until they disconnect."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    reason_bytes = reason.encode()[:_REASON_MAX_BYTES]
    with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError, TimeoutError):
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await websocket.close(code, reason_bytes.decode(errors="ignore"))


# For the streams of other modules (ws_team.py): the same handshake, close, per-user count and delta pump.
accept_stream, close_stream, counted_stream, pump_stream = _accept, _close, _counted, _pump
