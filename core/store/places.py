"""Administration of places and patients: create, rename and retire sites, wards and beds (never delete them), and
register patients with their national identity number kept apart. Each change is one transaction that checks first
and writes nothing when it refuses (core.administration.AdminRefused names the field)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.administration import AdminRefused
from core.national_id import NationalId, parse_national_id
from core.store import schema as s
from core.store.sql import SqlStore, one_of
from core.types import Bed, Patient, Site, SiteKind, Ward

__all__ = ["PlaceQueries", "absent", "bed_of_row", "in_use", "record_national_id", "site_of_row", "ward_of_row"]

_UNSET: Any = object()


def site_of_row(row: Any) -> Site:
    return Site(row.site_id, row.name, SiteKind(row.kind), retired_at=row.retired_at)


def ward_of_row(row: Any) -> Ward:
    return Ward(row.ward_id, row.site_id, row.name, retired_at=row.retired_at)


def bed_of_row(row: Any) -> Bed:
    return Bed(row.bed_id, row.ward_id, row.label, retired_at=row.retired_at)


def _one(conn: sa.Connection, table: sa.Table, key: str, value: str, *, field: str, what: str) -> Any:
    row = conn.execute(sa.select(table).where(table.c[key] == value)).first()
    if row is None:
        raise AdminRefused(field, reason=f"no {what} {value!r}", missing=True)
    return row


def in_use(conn: sa.Connection, table: sa.Table, key: str, value: str, *, field: str, what: str) -> Any:
    """The row, refused when it is retired: nothing new goes into a retired place."""
    row = _one(conn, table, key, value, field=field, what=what)
    if row.retired_at is not None:
        raise AdminRefused(field, reason=f"{what} {value} was retired at {row.retired_at.isoformat()}")
    return row


def absent(conn: sa.Connection, table: sa.Table, key: str, value: str, *, what: str) -> None:
    if conn.execute(sa.select(table.c[key]).where(table.c[key] == value)).first() is not None:
        raise AdminRefused(key, reason=f"{what} {value} exists already; rename it or choose another id")


def _current_stays(conn: sa.Connection, where: sa.ColumnElement[bool]) -> list[Any]:
    t = s.stays
    query = sa.select(t.c.stay_id, t.c.patient_id, t.c.bed_id).where(where, t.c.end_at.is_(None))
    return list(conn.execute(query.order_by(t.c.stay_id)).all())


def _refuse_with_stays(field: str, what: str, stays: list[Any]) -> None:
    if stays:
        named = ", ".join(f"{row.stay_id} (patient {row.patient_id})" for row in stays[:5])
        more = f" and {len(stays) - 5} more" if len(stays) > 5 else ""
        raise AdminRefused(field, reason=f"{what} has current stays: {named}{more}; discharge or transfer them first")


class PlaceQueries(SqlStore):
    async def create_site(self, site: Site) -> Site:
        def create(conn: sa.Connection) -> Site:
            absent(conn, s.sites, "site_id", site.site_id, what="site")
            conn.execute(sa.insert(s.sites).values(site_id=site.site_id, name=site.name, kind=site.kind.value))
            return Site(site.site_id, site.name, site.kind)

        return await self._write(create)

    async def create_ward(self, ward: Ward) -> Ward:
        def create(conn: sa.Connection) -> Ward:
            in_use(conn, s.sites, "site_id", ward.site_id, field="site_id", what="site")
            absent(conn, s.wards, "ward_id", ward.ward_id, what="ward")
            conn.execute(sa.insert(s.wards).values(ward_id=ward.ward_id, site_id=ward.site_id, name=ward.name))
            return Ward(ward.ward_id, ward.site_id, ward.name)

        return await self._write(create)

    async def create_bed(self, bed: Bed) -> Bed:
        def create(conn: sa.Connection) -> Bed:
            ward = in_use(conn, s.wards, "ward_id", bed.ward_id, field="ward_id", what="ward")
            in_use(conn, s.sites, "site_id", ward.site_id, field="ward_id", what="site")
            absent(conn, s.beds, "bed_id", bed.bed_id, what="bed")
            conn.execute(sa.insert(s.beds).values(bed_id=bed.bed_id, ward_id=bed.ward_id, label=bed.label))
            return Bed(bed.bed_id, bed.ward_id, bed.label)

        return await self._write(create)

    async def get_site(self, site_id: str) -> Site:
        """Retired ones too. Raises AdminRefused (missing)."""
        return await self._read(
            lambda c: site_of_row(_one(c, s.sites, "site_id", site_id, field="site_id", what="site"))
        )

    async def get_bed(self, bed_id: str) -> Bed:
        """Retired ones too. Raises AdminRefused (missing)."""
        return await self._read(lambda c: bed_of_row(_one(c, s.beds, "bed_id", bed_id, field="bed_id", what="bed")))

    async def rename_site(self, site_id: str, *, name: str) -> Site:
        return site_of_row(await self._rename(s.sites, "site_id", site_id, {"name": name}, what="site"))

    async def rename_ward(self, ward_id: str, *, name: str) -> Ward:
        return ward_of_row(await self._rename(s.wards, "ward_id", ward_id, {"name": name}, what="ward"))

    async def rename_bed(self, bed_id: str, *, label: str) -> Bed:
        return bed_of_row(await self._rename(s.beds, "bed_id", bed_id, {"label": label}, what="bed"))

    async def _rename(self, table: sa.Table, key: str, value: str, values: dict[str, str], *, what: str) -> Any:
        def rename(conn: sa.Connection) -> Any:
            _one(conn, table, key, value, field=key, what=what)
            return conn.execute(sa.update(table).where(table.c[key] == value).values(values).returning(*table.c)).one()

        return await self._write(rename)

    async def retire_site(self, site_id: str, *, at: datetime) -> Site:
        """Refused while any of its wards has a current stay (its wards and beds stay as they are)."""
        wards = sa.select(s.wards.c.ward_id).where(s.wards.c.site_id == site_id)
        return site_of_row(await self._retire(s.sites, "site_id", site_id, s.stays.c.ward_id.in_(wards), at=at))

    async def retire_ward(self, ward_id: str, *, at: datetime) -> Ward:
        """Refused while the ward has a current stay (in a bed or at home)."""
        return ward_of_row(await self._retire(s.wards, "ward_id", ward_id, s.stays.c.ward_id == ward_id, at=at))

    async def retire_bed(self, bed_id: str, *, at: datetime) -> Bed:
        """Refused while the bed holds a current stay."""
        return bed_of_row(await self._retire(s.beds, "bed_id", bed_id, s.stays.c.bed_id == bed_id, at=at))

    async def _retire(
        self, table: sa.Table, key: str, value: str, stays_in: sa.ColumnElement[bool], *, at: datetime
    ) -> Any:
        what = key.removesuffix("_id")

        def retire(conn: sa.Connection) -> Any:
            in_use(conn, table, key, value, field=key, what=what)
            _refuse_with_stays(key, f"{what} {value}", _current_stays(conn, stays_in))
            return conn.execute(
                sa.update(table).where(table.c[key] == value).values(retired_at=at).returning(*table.c)
            ).one()

        return await self._write(retire)

    async def create_patient(
        self, patient: Patient, *, national_id: NationalId | None, at: datetime, by: str
    ) -> Patient:
        """A new patient, with their national identity number (if given) in its own table, in one transaction."""

        def create(conn: sa.Connection) -> Patient:
            absent(conn, s.patients, "patient_id", patient.patient_id, what="patient")
            conn.execute(
                sa.insert(s.patients).values(
                    patient_id=patient.patient_id, display_name=patient.display_name, birth_year=patient.birth_year
                )
            )
            if national_id is not None:
                record_national_id(conn, patient.patient_id, national_id, at=at, by=by)
            return patient

        return await self._write(create)

    async def change_patient(
        self,
        patient_id: str,
        *,
        display_name: str | None = None,
        birth_year: int | None = _UNSET,
        national_id: NationalId | None = _UNSET,
        at: datetime,
        by: str,
    ) -> Patient:
        """Change what is given: a name, a birth year (None clears it), a national identity number (None removes
        it). Raises AdminRefused (missing patient, or the number belongs to another patient)."""

        def change(conn: sa.Connection) -> Patient:
            _one(conn, s.patients, "patient_id", patient_id, field="patient_id", what="patient")
            values: dict[str, Any] = {} if display_name is None else {"display_name": display_name}
            if birth_year is not _UNSET:
                values["birth_year"] = birth_year
            if values:
                conn.execute(sa.update(s.patients).where(s.patients.c.patient_id == patient_id).values(values))
            if national_id is not _UNSET:
                conn.execute(sa.delete(s.patient_identities).where(s.patient_identities.c.patient_id == patient_id))
                if national_id is not None:
                    record_national_id(conn, patient_id, national_id, at=at, by=by)
            row = conn.execute(sa.select(s.patients).where(s.patients.c.patient_id == patient_id)).one()
            return Patient(row.patient_id, row.display_name, row.birth_year)

        return await self._write(change)

    async def national_id_of(self, patient_id: str) -> NationalId | None:
        """The patient's number (re-validated as it is read), or None. Only the roles docs/ACCESS.md names see it."""
        t = s.patient_identities
        value = await self._read(
            lambda c: c.execute(sa.select(t.c.national_id).where(t.c.patient_id == patient_id)).scalar()
        )
        return None if value is None else parse_national_id(value)

    async def has_national_id(self, patient_ids: list[str]) -> set[str]:
        t = s.patient_identities
        query = sa.select(t.c.patient_id).where(one_of(t.c.patient_id, patient_ids))
        return set(await self._read(lambda c: c.execute(query).scalars().all()))


def record_national_id(conn: sa.Connection, patient_id: str, national_id: NationalId, *, at: datetime, by: str) -> None:
    t = s.patient_identities
    owner = conn.execute(sa.select(t.c.patient_id).where(t.c.national_id == national_id.value)).scalar()
    if owner is not None and owner != patient_id:
        raise AdminRefused("national_id", reason=f"this number is already registered to patient {owner}")
    values = {"patient_id": patient_id, "national_id": national_id.value, "recorded_at": at, "recorded_by": by}
    conn.execute(sa.delete(t).where(t.c.patient_id == patient_id))
    conn.execute(sa.insert(t).values(values))
