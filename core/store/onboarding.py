"""Device onboarding: profiles, the credentials vaktrom issued (hashes only) and each device's history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.errors import Conflict, NotFound
from core.onboarding import Credential, CredentialEnd, DeviceEvent, DeviceProfile, Rejections
from core.store import schema as s
from core.store.sql import SqlStore, advisory_lock, one_of
from core.types import Device

__all__ = ["OnboardingQueries"]

_CURRENT = s.device_credentials.c.ended_at.is_(None)


def _credential(row: Any) -> Credential:
    return Credential(
        credential_id=row.id,
        device_id=row.device_id,
        password_hash=row.password_hash,
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        issued_by=row.issued_by,
        ended_at=row.ended_at,
        ended_reason=CredentialEnd(row.ended_reason) if row.ended_reason else None,
    )


def _profile(row: Any) -> DeviceProfile:
    return DeviceProfile(
        device_id=row.device_id,
        serial=row.serial,
        firmware=row.firmware,
        calibration_due_at=row.calibration_due_at,
        revoked_at=row.revoked_at,
        decommissioned_at=row.decommissioned_at,
    )


def _event_row(event: DeviceEvent) -> dict[str, Any]:
    return {"device_id": event.device_id, "at": event.at, "event": event.event, "actor": event.actor,
            "detail": event.detail}  # fmt: skip


def _issue(conn: sa.Connection, credential: Credential, *, end_previous: CredentialEnd, event: DeviceEvent) -> None:
    """End the device's current credential (if any) and make `credential` current, in one transaction."""
    t = s.device_credentials
    advisory_lock(conn, "credential:" + credential.device_id)
    at = credential.issued_at
    conn.execute(
        sa.update(t)
        .where(t.c.device_id == credential.device_id, _CURRENT)
        .values(ended_at=at, ended_reason=end_previous.value, changed_at=at)
    )
    conn.execute(
        sa.insert(t).values(
            device_id=credential.device_id, password_hash=credential.password_hash, issued_at=at,
            expires_at=credential.expires_at, issued_by=credential.issued_by, changed_at=at,
        )
    )  # fmt: skip
    p = s.device_profiles
    conn.execute(sa.update(p).where(p.c.device_id == credential.device_id).values(revoked_at=None))
    conn.execute(sa.insert(s.device_events).values(_event_row(event)))


def _end(conn: sa.Connection, device_id: str, *, reason: CredentialEnd, event: DeviceEvent) -> None:
    t, p = s.device_credentials, s.device_profiles
    advisory_lock(conn, "credential:" + device_id)
    at = event.at
    conn.execute(
        sa.update(t)
        .where(t.c.device_id == device_id, _CURRENT)
        .values(ended_at=at, ended_reason=reason.value, changed_at=at)
    )
    column = "decommissioned_at" if reason is CredentialEnd.DECOMMISSIONED else "revoked_at"
    if conn.execute(sa.select(p.c.device_id).where(p.c.device_id == device_id)).first() is None:
        conn.execute(sa.insert(p).values(device_id=device_id, serial="", **{column: at}))  # registered before 0009
    else:
        conn.execute(sa.update(p).where(p.c.device_id == device_id).values({column: at}))
    conn.execute(sa.insert(s.device_events).values(_event_row(event)))


def _onboard(conn: sa.Connection, device: Device, profile: DeviceProfile, credential: Credential,
             event: DeviceEvent) -> None:  # fmt: skip
    exists = conn.execute(sa.select(s.devices.c.device_id).where(s.devices.c.device_id == device.device_id)).first()
    if exists is not None:
        raise Conflict(device.device_id, reason=f"Device {device.device_id} is already registered")
    conn.execute(
        sa.insert(s.devices).values(
            device_id=device.device_id, site_id=device.site_id, kind=device.kind.value, model=device.model,
            registered_at=device.registered_at,
        )
    )  # fmt: skip
    conn.execute(
        sa.insert(s.device_profiles).values(
            device_id=profile.device_id, serial=profile.serial, firmware=profile.firmware,
            calibration_due_at=profile.calibration_due_at,
        )
    )  # fmt: skip
    _issue(conn, credential, end_previous=CredentialEnd.ROTATED, event=event)


class OnboardingQueries(SqlStore):
    async def onboard_device(
        self, device: Device, *, profile: DeviceProfile, credential: Credential, event: DeviceEvent
    ) -> None:
        """Register the device, its profile and its first credential together. Raises Conflict if it exists."""
        await self._write(lambda c: _onboard(c, device, profile, credential, event))

    async def issue_credential(self, credential: Credential, *, event: DeviceEvent) -> None:
        """Make `credential` the device's current one; the previous one ends as rotated."""
        await self._write(lambda c: _issue(c, credential, end_previous=CredentialEnd.ROTATED, event=event))

    async def end_credential(self, device_id: str, *, reason: CredentialEnd, event: DeviceEvent) -> None:
        """End the device's current credential (revoked or decommissioned) and record when on its profile."""
        await self._write(lambda c: _end(c, device_id, reason=reason, event=event))

    async def record_device_event(self, event: DeviceEvent) -> None:
        await self._write(lambda c: c.execute(sa.insert(s.device_events).values(_event_row(event))))

    async def device_profiles(self, device_ids: Sequence[str]) -> dict[str, DeviceProfile]:
        p = s.device_profiles
        query = sa.select(p).where(one_of(p.c.device_id, device_ids))
        return {row.device_id: _profile(row) for row in await self._read(lambda c: c.execute(query).all())}

    async def current_credentials(self, device_ids: Sequence[str] | None = None) -> dict[str, Credential]:
        t = s.device_credentials
        query = sa.select(t).where(_CURRENT)
        if device_ids is not None:
            query = query.where(one_of(t.c.device_id, device_ids))
        return {row.device_id: _credential(row) for row in await self._read(lambda c: c.execute(query).all())}

    async def credential_history(self, device_id: str) -> list[Credential]:
        t = s.device_credentials
        query = sa.select(t).where(t.c.device_id == device_id).order_by(t.c.issued_at, t.c.id)
        return [_credential(row) for row in await self._read(lambda c: c.execute(query).all())]

    async def device_events(self, device_id: str) -> list[DeviceEvent]:
        e = s.device_events
        query = sa.select(e).where(e.c.device_id == device_id).order_by(e.c.at, e.c.id)
        rows = await self._read(lambda c: c.execute(query).all())
        if not rows:
            await self._device_exists(device_id)
        return [DeviceEvent(r.device_id, r.at, r.event, r.actor, r.detail) for r in rows]

    async def current_device_hashes(self) -> dict[str, str]:
        """Device id -> the hash of its current password (what the embedded broker accepts)."""
        t = s.device_credentials
        query = sa.select(t.c.device_id, t.c.password_hash).where(_CURRENT)
        return {row.device_id: row.password_hash for row in await self._read(lambda c: c.execute(query).all())}

    async def device_rejections(self, device_ids: Sequence[str], *, since: datetime) -> dict[str, Rejections]:
        """Per device: its dead letters received since `since` (the received_at index bounds the scan)."""
        d = s.dead_letters
        future = sa.func.sum(sa.case((d.c.reason.like("%in the future%"), 1), else_=0))
        query = (
            sa.select(d.c.device_id, sa.func.max(d.c.received_at), sa.func.count(), future)
            .where(d.c.received_at >= since, one_of(d.c.device_id, device_ids))
            .group_by(d.c.device_id)
        )
        rows = await self._read(lambda c: c.execute(query).all())
        return {r[0]: Rejections(r[0], r[1], int(r[2]), int(r[3] or 0)) for r in rows}

    async def _device_exists(self, device_id: str) -> None:
        query = sa.select(s.devices.c.device_id).where(s.devices.c.device_id == device_id)
        if await self._read(lambda c: c.execute(query).first()) is None:
            raise NotFound("device", device_id)
