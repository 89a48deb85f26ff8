"""Access on an open WebSocket: what a ward stream may show (site or care-team grant), an audit row for each
patient the first time it appears, and the closing of a user's sockets on every API node when their access shrinks.

Access changes (a user disabled, roles or sites changed, a care-team membership ended) are rows in the store's
`access_changes`, written with the change. Each API node polls that feed once per ACCESS_POLL_S for all its sockets
(one indexed query per node, not per socket) and wakes the sockets of the users named; each re-reads the registry
and its grants and closes with 4410 when it has lost anything. Nothing here is memory another node would need.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Iterator, Sequence

from core.errors import StorageUnavailable
from core.store import Store
from dashboard_api.access import ApiContext, WardAccess, audit, audit_patients, ward_access
from dashboard_api.auth import DisabledUser, InvalidToken, Principal, UnknownUser, registered_principal
from dashboard_api.live import Delta

__all__ = ["ACCESS_POLL_S", "AccessWatch", "lost_access", "stream_filter"]

logger = logging.getLogger(__name__)

# How soon a disable or an ended membership closes open sockets on every node. One query per node per poll, so 1 s
# costs a node ~1 query/s whatever its number of sockets, while "at once" stays within a second.
ACCESS_POLL_S = 1.0
# Ids of a PostgreSQL identity can commit out of order (a lower id committing after a higher one was seen): each
# poll re-reads this many ids below the newest seen, and skips those it has handled.
_LOOKBACK_IDS = 64
# Events are compact JSON made by pydantic (no spaces): the patient and ward are found without decoding the event.
_PATIENT = re.compile(r'"patient_id":"([^"]+)"')
_WARD = re.compile(r'"ward_id":"([^"]+)"')

Expand = Callable[[str], Awaitable[list[str]]]


class AccessWatch:
    """Per node: which users have sockets open here, and the task that polls the store's access changes for them.
    The task runs while at least one socket is watched and stops with the last."""

    def __init__(self, store: Store, *, poll_s: float = ACCESS_POLL_S) -> None:
        self._store = store
        self._poll_s = poll_s
        self._watchers: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None
        self.polls = 0  # a metric: queries made

    @contextlib.contextmanager
    def watch(self, user_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever the user's access may have changed. It starts set: the socket re-checks once, so
        a change between its authentication and this watch is not missed."""
        changed = asyncio.Event()
        changed.set()
        self._watchers.setdefault(user_id, set()).add(changed)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="access-watch")
        try:
            yield changed
        finally:
            events = self._watchers.get(user_id, set())
            events.discard(changed)
            if not events:
                self._watchers.pop(user_id, None)
            if not self._watchers and self._task is not None:
                self._task.cancel()
                self._task = None

    async def _run(self) -> None:
        handled: set[int] = set()
        newest = await self._store.last_access_change_id()
        while True:
            await asyncio.sleep(self._poll_s)
            try:
                changes = await self._store.access_changes_after(max(newest - _LOOKBACK_IDS, 0))
            except StorageUnavailable as exc:
                logger.warning("Could not read access changes (open sockets keep their access meanwhile): %s", exc)
                continue
            self.polls += 1
            for change_id, user_id in changes:
                if change_id in handled:
                    continue
                handled.add(change_id)
                newest = max(newest, change_id)
                for event in self._watchers.get(user_id, ()):
                    event.set()
            handled = {i for i in handled if i > newest - _LOOKBACK_IDS}


async def lost_access(
    ctx: ApiContext,
    principal: Principal,
    changed: asyncio.Event,
    wards: Sequence[WardAccess],
    *,
    sites: Sequence[str] = (),
) -> str:
    """Wait until the principal has lost access this stream relies on (its wards' grants, and every one of `sites`:
    those a stream of several sites shows); the reason (for the close frame)."""
    while True:
        await changed.wait()
        changed.clear()
        try:
            now = await registered_principal(
                ctx.store,
                user_id=principal.user_id,
                role=principal.role,
                site_ids=principal.site_ids,
                token_id=principal.token_id,
                expires_at=principal.expires_at,
            )
        except (DisabledUser, UnknownUser):
            return f"User {principal.user_id} is disabled; this stream is closed"
        except InvalidToken as exc:
            return f"Access withdrawn: {exc}"
        for site_id in sites:
            if not now.may_see(site_id):
                return f"Access to site {site_id} withdrawn"
        for before in wards:
            after = await ward_access(ctx, now, before.ward)
            if before.site is not None and after.site is None:
                return f"Access to ward {before.ward.ward_id} withdrawn (site)"
            if before.site is None and not set(before.team) <= set(after.team) and after.site is None:
                return f"Access to a patient on ward {before.ward.ward_id} ended (care team)"


def stream_filter(
    ctx: ApiContext, principal: Principal, wards: Sequence[WardAccess], seen: set[str], expand: Expand
) -> Expand:
    """Drop what the principal may not see (on a ward seen through a care-team grant: other patients' events and
    device events), and audit each patient the first time this socket shows them."""
    by_ward = {w.ward.ward_id: w for w in wards}

    async def filtered(message: str) -> list[str]:
        if isinstance(message, Delta) and message.parts:
            return await expand_batch(message)
        ward_match, patient_match = _WARD.search(message), _PATIENT.search(message)
        access = by_ward.get(ward_match.group(1)) if ward_match else None
        if access is None:
            return []
        patient_id = patient_match.group(1) if patient_match else None
        grant = access.site if patient_id is None else access.grant_for(patient_id)
        if grant is None:
            return []
        if patient_id is not None:
            await appeared(access, {patient_id})
        return await expand(message)

    async def expand_batch(batch: Delta) -> list[str]:
        """A batch as it is for a site grant (the same text for every such socket); for a care-team grant, a batch
        of the events of the principal's patients only (none: nothing)."""
        access = by_ward.get(batch.ward_id)
        if access is None:
            return []
        if access.site is None:
            kept = [(part, p) for part, p in zip(batch.parts, batch.patient_ids, strict=True) if p in access.team]
            if not kept:
                return []
            batch = batch.batch_of(kept)
        await appeared(access, batch.patients)
        return await expand(batch)

    async def appeared(access: WardAccess, patient_ids: frozenset[str] | set[str]) -> None:
        """Audit each patient the first time this socket shows them (the snapshot's are in `seen` already)."""
        if patient_ids <= seen:
            return
        for patient_id in sorted(patient_ids - seen):
            seen.add(patient_id)
            grant = access.grant_for(patient_id) or ""
            await audit(ctx, principal, "ws.ward", access.ward.ward_id, "appeared", patient_id=patient_id, grant=grant)

    return filtered


async def audit_snapshot(
    ctx: ApiContext, principal: Principal, access: WardAccess, patient_ids: Sequence[str], seen: set[str]
) -> None:
    """One row per patient on the ward's snapshot (one naming no patient for an empty ward)."""
    seen.update(patient_ids)
    shown = {pid: access.grant_for(pid) or "" for pid in patient_ids}
    await audit_patients(ctx, principal, "ws.ward", access.ward.ward_id, shown)


__all__ += ["audit_snapshot"]
