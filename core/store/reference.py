"""Reference data: sites, wards, beds, patients, SpO2 scale decisions, stays and care teams."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.errors import NotFound
from core.store import schema as s
from core.store.digests import ensure_digest_schedule
from core.store.places import bed_of_row, site_of_row, ward_of_row
from core.store.sql import SqlStore, one_of, upsert
from core.types import (
    Bed,
    CareSetting,
    CareTeamMember,
    CareTeamRole,
    Patient,
    Site,
    SpO2Scale,
    SpO2ScaleDecision,
    Stay,
    Ward,
)

__all__ = ["ReferenceQueries", "care_team_member_of_row", "open_at", "stay_of_row"]


def open_at(table: sa.Table, at: datetime) -> sa.ColumnElement[bool]:
    """Rows whose [start_at, end_at) period contains `at`."""
    return sa.and_(table.c.start_at <= at, sa.or_(table.c.end_at.is_(None), table.c.end_at > at))


def stay_of_row(row: Any) -> Stay:
    return Stay(
        stay_id=row.stay_id,
        patient_id=row.patient_id,
        ward_id=row.ward_id,
        setting=CareSetting(row.setting),
        start_at=row.start_at,
        bed_id=row.bed_id,
        end_at=row.end_at,
        admitted_at=row.admitted_at,
    )


def care_team_member_of_row(row: Any) -> CareTeamMember:
    return CareTeamMember(
        patient_id=row.patient_id,
        member_id=row.member_id,
        role=CareTeamRole(row.role),
        organisation=row.organisation,
        start_at=row.start_at,
        end_at=row.end_at,
    )


_STAY_ORDER = (s.stays.c.start_at, s.stays.c.stay_id)


class ReferenceQueries(SqlStore):
    async def upsert_site(self, site: Site) -> None:
        row = {"site_id": site.site_id, "name": site.name, "kind": site.kind.value}
        await self._write(lambda c: upsert(c, s.sites, row, key=["site_id"]))

    async def upsert_ward(self, ward: Ward) -> None:
        row = {"ward_id": ward.ward_id, "site_id": ward.site_id, "name": ward.name}
        await self._write(lambda c: upsert(c, s.wards, row, key=["ward_id"]))

    async def upsert_bed(self, bed: Bed) -> None:
        row = {"bed_id": bed.bed_id, "ward_id": bed.ward_id, "label": bed.label}
        await self._write(lambda c: upsert(c, s.beds, row, key=["bed_id"]))

    async def upsert_patient(self, patient: Patient) -> None:
        row = {"patient_id": patient.patient_id, "display_name": patient.display_name, "birth_year": patient.birth_year}
        await self._write(lambda c: upsert(c, s.patients, row, key=["patient_id"]))

    async def list_sites(self, *, include_retired: bool = False) -> list[Site]:
        query = sa.select(s.sites).order_by(s.sites.c.site_id)
        if not include_retired:
            query = query.where(s.sites.c.retired_at.is_(None))
        return [site_of_row(row) for row in await self._read(lambda c: c.execute(query).all())]

    async def list_wards(self, *, site_ids: Sequence[str] | None = None, include_retired: bool = False) -> list[Ward]:
        query = sa.select(s.wards).order_by(s.wards.c.ward_id)
        if site_ids is not None:
            query = query.where(one_of(s.wards.c.site_id, site_ids))
        if not include_retired:
            query = query.where(s.wards.c.retired_at.is_(None))
        return [ward_of_row(row) for row in await self._read(lambda c: c.execute(query).all())]

    async def get_ward(self, ward_id: str) -> Ward:
        row = await self._read(lambda c: c.execute(sa.select(s.wards).where(s.wards.c.ward_id == ward_id)).first())
        if row is None:
            raise NotFound("ward", ward_id)
        return ward_of_row(row)

    async def list_beds(self, ward_id: str, *, include_retired: bool = False) -> list[Bed]:
        query = sa.select(s.beds).where(s.beds.c.ward_id == ward_id).order_by(s.beds.c.bed_id)
        if not include_retired:
            query = query.where(s.beds.c.retired_at.is_(None))
        return [bed_of_row(row) for row in await self._read(lambda c: c.execute(query).all())]

    async def get_patient(self, patient_id: str) -> Patient:
        return (await self.get_patients([patient_id]))[patient_id]

    async def get_patients(self, patient_ids: Sequence[str]) -> dict[str, Patient]:
        if not patient_ids:
            return {}
        query = sa.select(s.patients).where(one_of(s.patients.c.patient_id, sorted(set(patient_ids))))
        rows = await self._read(lambda c: c.execute(query).all())
        found = {row.patient_id: Patient(row.patient_id, row.display_name, row.birth_year) for row in rows}
        if missing := sorted(set(patient_ids) - found.keys()):
            raise NotFound("patient", missing[0])
        return found

    async def set_spo2_scale(self, decision: SpO2ScaleDecision) -> None:
        row = {
            "patient_id": decision.patient_id,
            "scale": decision.scale.value,
            "set_by": decision.set_by,
            "set_at": decision.set_at,
        }
        await self._write(lambda c: c.execute(sa.insert(s.spo2_scale_decisions), row))

    async def get_spo2_scale(self, patient_id: str) -> SpO2ScaleDecision | None:
        return (await self.spo2_scales([patient_id])).get(patient_id)

    async def spo2_scales(self, patient_ids: Sequence[str]) -> dict[str, SpO2ScaleDecision]:
        if not patient_ids:
            return {}
        t = s.spo2_scale_decisions
        newest_first = sa.func.row_number().over(
            partition_by=t.c.patient_id, order_by=(t.c.set_at.desc(), t.c.id.desc())
        )
        ranked = sa.select(t, newest_first.label("rank")).where(one_of(t.c.patient_id, patient_ids)).subquery()
        query = sa.select(ranked).where(ranked.c.rank == 1)
        rows = await self._read(lambda c: c.execute(query).all())
        return {r.patient_id: SpO2ScaleDecision(r.patient_id, SpO2Scale(r.scale), r.set_by, r.set_at) for r in rows}

    async def add_stay(self, stay: Stay) -> None:
        row = {
            "stay_id": stay.stay_id,
            "patient_id": stay.patient_id,
            "ward_id": stay.ward_id,
            "setting": stay.setting.value,
            "start_at": stay.start_at,
            "bed_id": stay.bed_id,
            "end_at": stay.end_at,
            "admitted_at": stay.admitted_at,
        }
        await self._write(lambda c: upsert(c, s.stays, row, key=["stay_id"]))

    async def end_stay(self, stay_id: str, *, end_at: datetime) -> None:
        query = sa.update(s.stays).where(s.stays.c.stay_id == stay_id).values(end_at=end_at)
        if (await self._write(lambda c: c.execute(query).rowcount)) == 0:
            raise NotFound("stay", stay_id)

    async def list_stays(self, *, ward_id: str, at: datetime) -> list[Stay]:
        query = sa.select(s.stays).where(s.stays.c.ward_id == ward_id, open_at(s.stays, at)).order_by(*_STAY_ORDER)
        return [stay_of_row(row) for row in await self._read(lambda c: c.execute(query).all())]

    async def stays_of_patients(self, patient_ids: Sequence[str], *, at: datetime) -> dict[str, Stay]:
        query = (
            sa.select(s.stays)
            .where(one_of(s.stays.c.patient_id, patient_ids), open_at(s.stays, at))
            .order_by(*_STAY_ORDER)
        )
        rows = await self._read(lambda c: c.execute(query).all())
        return {stay.patient_id: stay for stay in map(stay_of_row, rows)}

    async def add_care_team_member(self, member: CareTeamMember) -> None:
        row = {
            "patient_id": member.patient_id,
            "member_id": member.member_id,
            "role": member.role.value,
            "organisation": member.organisation,
            "start_at": member.start_at,
            "end_at": member.end_at,
        }
        key = ["patient_id", "member_id", "role", "start_at"]

        def add(conn: sa.Connection) -> None:
            upsert(conn, s.care_team, row, key=key)
            ensure_digest_schedule(conn, member)  # a GP gets a daily summary from now on

        await self._write(add)

    async def list_care_team(self, patient_id: str, *, at: datetime) -> list[CareTeamMember]:
        t = s.care_team
        query = sa.select(t).where(t.c.patient_id == patient_id, open_at(t, at)).order_by(t.c.start_at, t.c.member_id)
        return [care_team_member_of_row(row) for row in await self._read(lambda c: c.execute(query).all())]
