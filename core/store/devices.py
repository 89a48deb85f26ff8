"""Devices: registry, pairings to patients over time, newest status, newest reading."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.errors import Conflict, NotFound
from core.store import schema as s
from core.store.sql import SqlStore, advisory_lock, id_rows, one_of, upsert
from core.types import Device, DeviceKind, DeviceStatus, Pairing

__all__ = ["DeviceQueries"]


def _device(row: Any) -> Device:
    return Device(row.device_id, row.site_id, DeviceKind(row.kind), row.model, row.registered_at)


def _pairing(row: Any) -> Pairing:
    return Pairing(row.device_id, row.patient_id, row.start_at, bed_id=row.bed_id, end_at=row.end_at)


def _status(row: Any) -> DeviceStatus:
    return DeviceStatus(
        device_id=row.device_id,
        online=bool(row.online),
        reported_at=row.reported_at,
        battery_percent=row.battery_percent,
        signal_dbm=row.signal_dbm,
        firmware=row.firmware,
    )


def _newer_report(new: Any) -> sa.ColumnElement[bool]:
    newer: sa.ColumnElement[bool] = new.reported_at >= s.device_status.c.reported_at
    return newer  # an older report never overwrites a newer one


def _pair(conn: sa.Connection, pairing: Pairing) -> None:
    t = s.pairings
    advisory_lock(conn, "pairing:" + pairing.device_id)  # at most one open pairing per device, across processes
    current = conn.execute(
        sa.select(t.c.patient_id, t.c.start_at).where(t.c.device_id == pairing.device_id, t.c.end_at.is_(None))
    ).first()
    if current is not None and tuple(current) == (pairing.patient_id, pairing.start_at) and pairing.end_at is None:
        return  # the same pairing again (idempotent seeding)
    _refuse_overlap(conn, pairing)
    conn.execute(
        sa.update(t).where(t.c.device_id == pairing.device_id, t.c.end_at.is_(None)).values(end_at=pairing.start_at)
    )
    conn.execute(
        sa.insert(t).values(
            device_id=pairing.device_id,
            patient_id=pairing.patient_id,
            bed_id=pairing.bed_id,
            start_at=pairing.start_at,
            end_at=pairing.end_at,
        )
    )


def _refuse_overlap(conn: sa.Connection, pairing: Pairing) -> None:
    # Readings are attributed by their own time to the newest pairing covering it (devices/registry.pairing_at):
    # a pairing overlapping an ended one of another patient would hand that patient's late readings to this one.
    # Checked here, under the device's lock, so two technicians' corrections cannot race past it.
    t = s.pairings
    overlaps = sa.and_(t.c.end_at.is_not(None), t.c.end_at > pairing.start_at, t.c.patient_id != pairing.patient_id)
    if pairing.end_at is not None:
        overlaps = sa.and_(overlaps, t.c.start_at < pairing.end_at)
    started_later = sa.and_(t.c.end_at.is_(None), t.c.start_at > pairing.start_at)  # ending it would invert it
    query = sa.select(t.c.patient_id, t.c.start_at, t.c.end_at).where(
        t.c.device_id == pairing.device_id, sa.or_(overlaps, started_later)
    )
    earlier = conn.execute(query.order_by(t.c.start_at.desc()).limit(1)).first()
    if earlier is None:
        return
    if earlier.end_at is None:
        reason = f"has been paired to patient {earlier.patient_id} since {earlier.start_at.isoformat()}"
    else:
        reason = f"was paired to patient {earlier.patient_id} until {earlier.end_at.isoformat()}"
    raise Conflict(
        pairing.device_id,
        reason=f"Device {pairing.device_id} {reason}; a pairing to patient {pairing.patient_id} cannot start "
        f"before that ({pairing.start_at.isoformat()})",
    )


def _newest_readings(conn: sa.Connection, device_ids: Sequence[str]) -> dict[str, datetime]:
    # One indexed max() per device (the observation key leads with device and time), never an aggregate over
    # every reading of the devices; one statement for all of them (device health asks about every paired device).
    o = s.observations
    ids = id_rows(conn, device_ids)
    newest = sa.select(sa.func.max(o.c.measured_at)).where(o.c.device_id == ids.c.value).scalar_subquery()
    query = sa.select(ids.c.value, newest)
    return {device_id: at for device_id, at in conn.execute(query) if at is not None}


class DeviceQueries(SqlStore):
    async def register_device(self, device: Device) -> None:
        row = {
            "device_id": device.device_id,
            "site_id": device.site_id,
            "kind": device.kind.value,
            "model": device.model,
            "registered_at": device.registered_at,
        }
        update = ["site_id", "kind", "model"]  # registered_at stays the first registration
        await self._write(lambda c: upsert(c, s.devices, row, key=["device_id"], update=update))

    async def get_device(self, device_id: str) -> Device:
        query = sa.select(s.devices).where(s.devices.c.device_id == device_id)
        row = await self._read(lambda c: c.execute(query).first())
        if row is None:
            raise NotFound("device", device_id)
        return _device(row)

    async def list_devices(
        self, *, site_ids: Sequence[str] | None = None, device_ids: Sequence[str] | None = None
    ) -> list[Device]:
        query = sa.select(s.devices).order_by(s.devices.c.device_id)
        if site_ids is not None:
            query = query.where(one_of(s.devices.c.site_id, site_ids))
        if device_ids is not None:
            query = query.where(one_of(s.devices.c.device_id, device_ids))
        return [_device(row) for row in await self._read(lambda c: c.execute(query).all())]

    async def pair_device(self, pairing: Pairing) -> None:
        await self._write(lambda c: _pair(c, pairing))

    async def unpair_device(self, device_id: str, *, end_at: datetime) -> None:
        t = s.pairings
        query = sa.update(t).where(t.c.device_id == device_id, t.c.end_at.is_(None)).values(end_at=end_at)
        await self._write(lambda c: c.execute(query))

    async def pairings_of_devices(self, device_ids: Sequence[str]) -> dict[str, list[Pairing]]:
        t = s.pairings
        query = sa.select(t).where(one_of(t.c.device_id, device_ids)).order_by(t.c.start_at, t.c.id)
        result: dict[str, list[Pairing]] = {}
        for pairing in map(_pairing, await self._read(lambda c: c.execute(query).all())):
            result.setdefault(pairing.device_id, []).append(pairing)
        return result

    async def save_device_status(self, status: DeviceStatus) -> None:
        row = {
            "device_id": status.device_id,
            "online": status.online,
            "reported_at": status.reported_at,
            "battery_percent": status.battery_percent,
            "signal_dbm": status.signal_dbm,
            "firmware": status.firmware,
        }
        await self._write(lambda c: upsert(c, s.device_status, row, key=["device_id"], where=_newer_report))

    async def list_device_status(self, *, device_ids: Sequence[str] | None = None) -> list[DeviceStatus]:
        query = sa.select(s.device_status).order_by(s.device_status.c.device_id)
        if device_ids is not None:
            query = query.where(one_of(s.device_status.c.device_id, device_ids))
        return [_status(row) for row in await self._read(lambda c: c.execute(query).all())]

    async def last_reading_at(self, device_ids: Sequence[str]) -> dict[str, datetime]:
        unique = list(dict.fromkeys(device_ids))
        return await self._read(lambda c: _newest_readings(c, unique)) if unique else {}
