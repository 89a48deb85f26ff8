"""A unit's beds and current patients written in one transaction (a first deployment's import): every row is
checked against what is stored as it is written, and the first refusal rolls the whole import back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from core.administration import AdminRefused, ImportRefused, StayChange, UnitImportRow, new_stay_id
from core.store import schema as s
from core.store.places import absent, in_use, record_national_id
from core.store.sql import SqlStore
from core.store.stays import arm_stay_limit, bed_free, insert_stay, kind_of_ward, lock_stay, pair_parked, patient_free
from core.types import Bed, CareSetting, SiteKind, Stay

__all__ = ["UnitImportQueries"]


def _bed(conn: sa.Connection, ward_id: str, bed: Bed) -> None:
    """Create the bed, or accept the ward's bed of that id with the same label."""
    row = conn.execute(sa.select(s.beds).where(s.beds.c.bed_id == bed.bed_id)).first()
    if row is None:
        conn.execute(sa.insert(s.beds).values(bed_id=bed.bed_id, ward_id=ward_id, label=bed.label))
    elif row.ward_id != ward_id or row.label != bed.label or row.retired_at is not None:
        raise AdminRefused("bed_id", reason=f"bed {bed.bed_id} exists already as {row.label!r} in ward {row.ward_id}")


def _row(
    conn: sa.Connection, ward_id: str, kind: SiteKind, item: UnitImportRow, *, at: datetime, by: str
) -> StayChange:
    if item.bed is not None:
        if kind is SiteKind.HOME_PROGRAMME:
            raise AdminRefused("bed_id", reason=f"ward {ward_id} is a home programme's: leave bed_id empty")
        _bed(conn, ward_id, item.bed)
    elif kind is not SiteKind.HOME_PROGRAMME:
        raise AdminRefused("bed_id", reason="is required in a ward with beds")
    patient = item.patient
    if patient is None:
        return StayChange(None, None)
    absent(conn, s.patients, "patient_id", patient.patient_id, what="patient")
    conn.execute(
        sa.insert(s.patients).values(
            patient_id=patient.patient_id, display_name=patient.display_name, birth_year=patient.birth_year
        )
    )
    if item.national_id is not None:
        record_national_id(conn, patient.patient_id, item.national_id, at=at, by=by)
    admitted_at = item.admitted_at or at
    lock_stay(conn, patient_id=patient.patient_id, bed_id=None if item.bed is None else item.bed.bed_id)
    patient_free(conn, patient.patient_id, admitted_at)
    if item.bed is None:
        stay = Stay(new_stay_id(), patient.patient_id, ward_id, CareSetting.HOME, admitted_at, admitted_at=admitted_at)
        insert_stay(conn, stay)
        return StayChange(None, stay)
    bed_free(conn, item.bed.bed_id, admitted_at)
    stay = Stay(
        new_stay_id(),
        patient.patient_id,
        ward_id,
        CareSetting.BEDSIDE,
        admitted_at,
        bed_id=item.bed.bed_id,
        admitted_at=admitted_at,
    )
    insert_stay(conn, stay)
    arm_stay_limit(conn, stay, kind)
    return StayChange(None, stay, devices_paired=pair_parked(conn, item.bed.bed_id, patient.patient_id, admitted_at))


class UnitImportQueries(SqlStore):
    async def import_unit(
        self, ward_id: str, rows: Sequence[UnitImportRow], *, at: datetime, by: str
    ) -> list[StayChange]:
        """Create each row's bed and patient and admit (or enrol) them, all in one transaction. Raises AdminRefused
        for the ward, or ImportRefused naming the first row and field that cannot be written (nothing written)."""

        def write(conn: sa.Connection) -> list[StayChange]:
            in_use(conn, s.wards, "ward_id", ward_id, field="ward_id", what="ward")
            kind, retired_at = kind_of_ward(conn, ward_id)
            if retired_at is not None:
                raise AdminRefused("ward_id", reason=f"ward {ward_id}'s site was retired at {retired_at.isoformat()}")
            changes = []
            for item in rows:
                try:
                    changes.append(_row(conn, ward_id, kind, item, at=at, by=by))
                except AdminRefused as exc:
                    raise ImportRefused(item.row, exc.field, reason=exc.reason) from None
            return changes

        return await self._write(write)
