"""Stays through administration: admit, transfer, discharge, enrol at home, end home follow-up, each in one
transaction that checks first (one current stay per patient and per bed), moves the bed's devices with it, and arms
or disarms the length-of-stay timer; and the firing of due length-of-stay timers.

Devices follow the bed. A device paired to a bed (`pairings.bed_id`) is paired to whoever lies in it: when a stay in
the bed ends, its pairing ends at that instant (the device stays "parked" at the bed); when the next stay there
starts, each device whose newest pairing was the one that ended with the bed's last stay is paired to the new
patient from the new stay's start. A device paired with no bed (a personal oximeter, a home kit) follows the patient
through a transfer and ends with the patient's discharge. Readings are attributed by their own time against these
pairings when they arrive and keep the patient they were stored with: a transfer never re-attributes a reading.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import sqlalchemy as sa

from core.administration import AdminRefused, StayChange
from core.length_of_stay import DueStayLimit, StayLimit, limit_due_at, limit_of
from core.store import schema as s
from core.store.alerts import update_alert_in
from core.store.protocols import AlertChange, AlertDecision, AlertUpdate, StayLimitDecision
from core.store.reference import stay_of_row
from core.store.sql import SqlStore, advisory_lock, lock_patient_stays
from core.store.stay_alerts import end_patient_alerts, move_patient_alerts
from core.types import SYSTEM_ACTOR, Alert, AlertKey, AlertKind, AlertPhase, AlertState, CareSetting, SiteKind, Stay

__all__ = [
    "StayQueries",
    "arm_stay_limit",
    "bed_free",
    "insert_stay",
    "kind_of_ward",
    "lock_stay",
    "pair_parked",
    "patient_free",
]

_st = s.stays
_p = s.pairings
_tm = s.stay_limit_timers


def _current_stay(conn: sa.Connection, where: sa.ColumnElement[bool]) -> Stay | None:
    row = conn.execute(sa.select(_st).where(where, _st.c.end_at.is_(None))).first()
    return None if row is None else stay_of_row(row)


def _place_of_bed(conn: sa.Connection, bed_id: str) -> tuple[str, SiteKind]:
    """(ward id, site kind) of a bed in use; AdminRefused when it, its ward or its site is missing or retired."""
    query = (
        sa.select(
            s.beds.c.ward_id,
            s.beds.c.retired_at,
            s.wards.c.retired_at.label("ward_retired_at"),
            s.sites.c.kind,
            s.sites.c.retired_at.label("site_retired_at"),
        )
        .join(s.wards, s.wards.c.ward_id == s.beds.c.ward_id)
        .join(s.sites, s.sites.c.site_id == s.wards.c.site_id)
        .where(s.beds.c.bed_id == bed_id)
    )
    row = conn.execute(query).first()
    if row is None:
        raise AdminRefused("bed_id", reason=f"no bed {bed_id!r}", missing=True)
    retired = row.retired_at or row.ward_retired_at or row.site_retired_at
    if retired is not None:
        raise AdminRefused("bed_id", reason=f"bed {bed_id} (or its ward or site) was retired at {retired.isoformat()}")
    return row.ward_id, SiteKind(row.kind)


def kind_of_ward(conn: sa.Connection, ward_id: str) -> tuple[SiteKind, datetime | None]:
    query = (
        sa.select(s.sites.c.kind, sa.func.coalesce(s.wards.c.retired_at, s.sites.c.retired_at).label("retired_at"))
        .join(s.sites, s.sites.c.site_id == s.wards.c.site_id)
        .where(s.wards.c.ward_id == ward_id)
    )
    row = conn.execute(query).first()
    if row is None:
        raise AdminRefused("ward_id", reason=f"no ward {ward_id!r}", missing=True)
    return SiteKind(row.kind), row.retired_at


def lock_stay(conn: sa.Connection, *, patient_id: str, bed_id: str | None = None) -> None:
    lock_patient_stays(conn, patient_id)
    if bed_id is not None:
        advisory_lock(conn, "stay-bed:" + bed_id)


def patient_free(conn: sa.Connection, patient_id: str, at: datetime) -> None:
    if conn.execute(sa.select(s.patients.c.patient_id).where(s.patients.c.patient_id == patient_id)).first() is None:
        raise AdminRefused("patient_id", reason=f"no patient {patient_id!r}", missing=True)
    current = _current_stay(conn, _st.c.patient_id == patient_id)
    if current is not None:
        where = f"bed {current.bed_id}" if current.bed_id else "home follow-up"
        raise AdminRefused(
            "patient_id",
            reason=f"patient {patient_id} already has a current stay ({current.stay_id}, {where} in ward "
            f"{current.ward_id}); transfer or discharge them first",
        )
    _not_before_last_end(conn, _st.c.patient_id == patient_id, at, field="patient_id", what=f"patient {patient_id}")


def _not_before_last_end(
    conn: sa.Connection, where: sa.ColumnElement[bool], at: datetime, *, field: str, what: str
) -> None:
    last_end = conn.execute(sa.select(sa.func.max(_st.c.end_at)).where(where)).scalar()
    if last_end is not None and at < last_end:
        raise AdminRefused(
            field,
            reason=f"{what} had a stay until {last_end.isoformat()}; a new one cannot start "
            f"before that ({at.isoformat()})",
        )


def bed_free(conn: sa.Connection, bed_id: str, at: datetime) -> tuple[str, SiteKind]:
    ward_id, kind = _place_of_bed(conn, bed_id)
    occupant = _current_stay(conn, _st.c.bed_id == bed_id)
    if occupant is not None:
        raise AdminRefused(
            "bed_id", reason=f"bed {bed_id} is taken: stay {occupant.stay_id} of patient {occupant.patient_id}"
        )
    _not_before_last_end(conn, _st.c.bed_id == bed_id, at, field="bed_id", what=f"bed {bed_id}")
    return ward_id, kind


def insert_stay(conn: sa.Connection, stay: Stay) -> None:
    conn.execute(
        sa.insert(_st).values(
            stay_id=stay.stay_id,
            patient_id=stay.patient_id,
            ward_id=stay.ward_id,
            setting=stay.setting.value,
            start_at=stay.start_at,
            bed_id=stay.bed_id,
            end_at=None,
            admitted_at=stay.admitted_at,
        )
    )


def _end_stay(conn: sa.Connection, stay: Stay, at: datetime) -> Stay:
    if at < stay.start_at:
        raise AdminRefused(
            "at",
            reason=f"stay {stay.stay_id} began at {stay.start_at.isoformat()}; it cannot end "
            f"before that ({at.isoformat()})",
        )
    conn.execute(sa.update(_st).where(_st.c.stay_id == stay.stay_id).values(end_at=at))
    return replace(stay, end_at=at)


def _unpair(conn: sa.Connection, where: sa.ColumnElement[bool], at: datetime) -> tuple[str, ...]:
    ended = conn.execute(
        sa.update(_p).where(where, _p.c.end_at.is_(None)).values(end_at=at).returning(_p.c.device_id)
    ).scalars()
    return tuple(sorted(ended))


def pair_parked(conn: sa.Connection, bed_id: str, patient_id: str, at: datetime) -> tuple[str, ...]:
    """Pair the devices parked at the bed (their newest pairing ended with the bed's last stay) to the patient."""
    last_end = conn.execute(sa.select(sa.func.max(_st.c.end_at)).where(_st.c.bed_id == bed_id)).scalar()
    if last_end is None:
        return ()
    later = sa.select(sa.literal(1)).where(
        _p.c.device_id == sa.literal_column("parked.device_id"),
        sa.or_(_p.c.start_at >= last_end, _p.c.end_at.is_(None)),
    )
    parked = _p.alias("parked")
    query = sa.select(parked.c.device_id).where(
        parked.c.bed_id == bed_id, parked.c.end_at == last_end, ~sa.exists(later)
    )
    devices = sorted(set(conn.execute(query).scalars()))
    for device_id in devices:
        conn.execute(sa.insert(_p).values(device_id=device_id, patient_id=patient_id, bed_id=bed_id, start_at=at))
    return tuple(devices)


def arm_stay_limit(conn: sa.Connection, stay: Stay, kind: SiteKind) -> None:
    limit = limit_of(kind)
    if limit is None:
        return
    admitted_at = stay.length_from
    conn.execute(
        sa.insert(_tm).values(
            stay_id=stay.stay_id,
            stay_limit=limit.value,
            patient_id=stay.patient_id,
            admitted_at=admitted_at,
            due_at=limit_due_at(limit, admitted_at),
        )
    )


def _disarm(conn: sa.Connection, patient_id: str, at: datetime, *, why: str) -> list[AlertChange]:
    """Disarm the patient's length-of-stay timers and resolve their open length-of-stay alert (`why`): the change,
    if there was one."""
    armed = sa.and_(_tm.c.patient_id == patient_id, _tm.c.due_at.is_not(None))
    conn.execute(sa.update(_tm).where(armed).values(due_at=None, disarmed_at=at))

    def resolved(alert: Alert | None) -> AlertUpdate | None:
        if alert is None or alert.state is AlertState.RESOLVED:
            return None
        return AlertUpdate(alert.resolved(at=at, by=SYSTEM_ACTOR, reason=why), AlertPhase.RESOLVED, reason=why)

    change = update_alert_in(conn, AlertKey(patient_id, None, AlertKind.LENGTH_OF_STAY), resolved)
    return [change] if change is not None and change.changed else []


def _alerts(changes: list[AlertChange]) -> tuple[Alert, ...]:
    return tuple(change.alert for change in changes)


def _site_kind_of_stay(conn: sa.Connection, stay: Stay) -> SiteKind:
    return kind_of_ward(conn, stay.ward_id)[0]


class StayQueries(SqlStore):
    async def admit(self, *, patient_id: str, bed_id: str, stay_id: str, at: datetime) -> StayChange:
        """Admit a patient with no current stay to a free bed in use; the bed's parked devices follow."""

        def admit(conn: sa.Connection) -> StayChange:
            lock_stay(conn, patient_id=patient_id, bed_id=bed_id)
            patient_free(conn, patient_id, at)
            ward_id, kind = bed_free(conn, bed_id, at)
            stay = Stay(stay_id, patient_id, ward_id, CareSetting.BEDSIDE, at, bed_id=bed_id, admitted_at=at)
            insert_stay(conn, stay)
            arm_stay_limit(conn, stay, kind)
            return StayChange(None, stay, devices_paired=pair_parked(conn, bed_id, patient_id, at))

        return await self._write(admit)

    async def transfer(self, *, patient_id: str, bed_id: str, stay_id: str, at: datetime) -> StayChange:
        """End the patient's current stay and start one in another free bed at the same instant. The length of stay
        carries over within one kind of unit; the old bed's devices stay there, the new bed's follow the patient."""

        def transfer(conn: sa.Connection) -> StayChange:
            lock_stay(conn, patient_id=patient_id, bed_id=bed_id)
            current = self._current_of(conn, patient_id)
            if current.bed_id == bed_id:
                raise AdminRefused("bed_id", reason=f"patient {patient_id} is in bed {bed_id} already")
            ward_id, kind = bed_free(conn, bed_id, at)
            old_kind = _site_kind_of_stay(conn, current)
            ended = _end_stay(conn, current, at)
            unpaired = _unpair(conn, _p.c.bed_id == current.bed_id, at) if current.bed_id else ()
            same_kind = kind is old_kind and limit_of(kind) is not None
            admitted_at = current.length_from if same_kind else at
            stay = Stay(stay_id, patient_id, ward_id, CareSetting.BEDSIDE, at, bed_id=bed_id, admitted_at=admitted_at)
            insert_stay(conn, stay)
            resolved = []
            if not same_kind:
                resolved = _disarm(conn, patient_id, at, why=f"transferred to a {kind.value} bed")
                arm_stay_limit(conn, stay, kind)
            paired = pair_parked(conn, bed_id, patient_id, at)
            moved = move_patient_alerts(conn, patient_id, ward_id=ward_id, at=at)
            alerts = _alerts(resolved + moved)
            return StayChange(ended, stay, devices_unpaired=unpaired, devices_paired=paired, alerts=alerts)

        return await self._write(transfer)

    async def discharge(self, *, patient_id: str, at: datetime) -> StayChange:
        """End the patient's current stay in a bed; every device paired to them is unpaired (bed devices park)."""
        return await self._write(lambda conn: self._end(conn, patient_id, at, CareSetting.BEDSIDE, "discharged"))

    async def enrol_home(self, *, patient_id: str, ward_id: str, stay_id: str, at: datetime) -> StayChange:
        """Enrol a patient with no current stay in a home-monitoring programme's ward."""

        def enrol(conn: sa.Connection) -> StayChange:
            lock_stay(conn, patient_id=patient_id)
            kind, retired_at = kind_of_ward(conn, ward_id)
            if kind is not SiteKind.HOME_PROGRAMME:
                raise AdminRefused("ward_id", reason=f"ward {ward_id} is at a {kind.value} site, not a home programme")
            if retired_at is not None:
                raise AdminRefused(
                    "ward_id", reason=f"ward {ward_id} (or its site) was retired at {retired_at.isoformat()}"
                )
            patient_free(conn, patient_id, at)
            stay = Stay(stay_id, patient_id, ward_id, CareSetting.HOME, at, admitted_at=at)
            insert_stay(conn, stay)
            return StayChange(None, stay)

        return await self._write(enrol)

    async def end_home(self, *, patient_id: str, at: datetime) -> StayChange:
        """End the patient's home follow-up; their home devices are unpaired."""
        return await self._write(lambda conn: self._end(conn, patient_id, at, CareSetting.HOME, "home follow-up ended"))

    async def stay_history(self, patient_id: str) -> list[Stay]:
        """Every stay of the patient, oldest first."""
        query = sa.select(_st).where(_st.c.patient_id == patient_id).order_by(_st.c.start_at, _st.c.stay_id)
        return [stay_of_row(row) for row in await self._read(lambda c: c.execute(query).all())]

    async def fire_due_stay_limits(
        self, now: datetime, decide: StayLimitDecision, *, limit: int = 50
    ) -> list[AlertChange]:
        """Claim due length-of-stay timers (rows another worker holds are skipped), apply `decide` to each patient's
        length-of-stay alert and mark the timer fired, in one transaction: each fires once."""
        return await self._write(lambda conn: _fire_due(conn, now, decide, limit))

    def _current_of(self, conn: sa.Connection, patient_id: str) -> Stay:
        current = _current_stay(conn, _st.c.patient_id == patient_id)
        if current is None:
            if conn.execute(sa.select(s.patients.c.patient_id).where(s.patients.c.patient_id == patient_id)).first():
                raise AdminRefused("patient_id", reason=f"patient {patient_id} has no current stay")
            raise AdminRefused("patient_id", reason=f"no patient {patient_id!r}", missing=True)
        return current

    def _end(self, conn: sa.Connection, patient_id: str, at: datetime, setting: CareSetting, why: str) -> StayChange:
        lock_stay(conn, patient_id=patient_id)
        current = self._current_of(conn, patient_id)
        if current.setting is not setting:
            use = "end-home" if current.setting is CareSetting.HOME else "discharge"
            raise AdminRefused(
                "patient_id", reason=f"patient {patient_id}'s current stay is {current.setting.value}: use {use}"
            )
        ended = _end_stay(conn, current, at)
        unpaired = _unpair(conn, _p.c.patient_id == patient_id, at)
        resolved = _disarm(conn, patient_id, at, why=why) + end_patient_alerts(conn, patient_id, at=at, why=why)
        return StayChange(ended, None, devices_unpaired=unpaired, alerts=_alerts(resolved))


def _on(decide: StayLimitDecision, due: DueStayLimit) -> AlertDecision:
    return lambda alert: decide(alert, due)


def _fire_due(conn: sa.Connection, now: datetime, decide: StayLimitDecision, limit: int) -> list[AlertChange]:
    query = (
        sa.select(_tm)
        .where(_tm.c.due_at <= now)
        .order_by(_tm.c.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)  # a second worker takes the others; SQLite: the one writer
    )
    changes = []
    for row in conn.execute(query).all():
        conn.execute(
            sa.update(_tm)
            .where(_tm.c.stay_id == row.stay_id, _tm.c.stay_limit == row.stay_limit)
            .values(due_at=None, fired_at=now)
        )
        current = _current_stay(conn, _st.c.patient_id == row.patient_id)
        if current is None:
            continue  # ended without disarming (a stay ended by hand): nothing to review
        due = DueStayLimit(
            patient_id=row.patient_id,
            stay_id=current.stay_id,
            ward_id=current.ward_id,
            limit=StayLimit(row.stay_limit),
            admitted_at=row.admitted_at,
            due_at=row.due_at,
        )
        change = update_alert_in(conn, AlertKey(row.patient_id, None, AlertKind.LENGTH_OF_STAY), _on(decide, due))
        if change is not None and change.changed:
            changes.append(change)
    return changes
