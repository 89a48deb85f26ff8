"""Reading an alert's facts (core/alert_facts.py) in one unit of work: its place, patient, stay, scores, latest values,
NEWS2 trend, ML risk, care team and SpO2 scale."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from core.alert_facts import TREND_HOURS_AGO, AlertFacts, ScorePoint
from core.errors import NotFound
from core.store import schema as s
from core.store.alert_rows import alert_of_row
from core.store.limits import limits_in_force
from core.store.reference import care_team_member_of_row, open_at, stay_of_row
from core.store.scores import risk_of_row, score_of_row
from core.store.sql import SqlStore
from core.types import (
    Alert,
    Bed,
    CareTeamMember,
    LatestValue,
    Parameter,
    Patient,
    Site,
    SiteKind,
    SpO2Scale,
    SpO2ScaleDecision,
    Ward,
)

__all__ = ["AlertFactsQueries", "alert_facts"]


def _ward_and_site(conn: sa.Connection, alert: Alert) -> tuple[Ward | None, Site | None]:
    ward_row = None
    if alert.ward_id is not None:
        ward_row = conn.execute(sa.select(s.wards).where(s.wards.c.ward_id == alert.ward_id)).first()
    site_id = ward_row.site_id if ward_row is not None else None
    if site_id is None and alert.device_id is not None:
        site_id = conn.execute(sa.select(s.devices.c.site_id).where(s.devices.c.device_id == alert.device_id)).scalar()
    ward = Ward(ward_row.ward_id, ward_row.site_id, ward_row.name) if ward_row is not None else None
    if site_id is None:
        return ward, None
    site_row = conn.execute(sa.select(s.sites).where(s.sites.c.site_id == site_id)).first()
    return ward, (Site(site_row.site_id, site_row.name, SiteKind(site_row.kind)) if site_row is not None else None)


def _trend(conn: sa.Connection, patient_id: str, at: datetime) -> tuple[ScorePoint, ...]:
    h = s.scores_history
    points = []
    for hours_ago in TREND_HOURS_AGO:  # one indexed lookup each: (patient_id, computed_at)
        row = conn.execute(
            sa.select(h.c.total, h.c.complete, h.c.computed_at)
            .where(h.c.patient_id == patient_id, h.c.computed_at <= at - timedelta(hours=hours_ago))
            .order_by(h.c.computed_at.desc())
            .limit(1)
        ).first()
        if row is not None:
            points.append(ScorePoint(hours_ago, int(row.total), bool(row.complete), row.computed_at))
    return tuple(points)


def _latest(conn: sa.Connection, patient_id: str) -> dict[Parameter, LatestValue]:
    lv = s.latest_values
    rows = conn.execute(sa.select(lv).where(lv.c.patient_id == patient_id)).all()
    return {
        Parameter(r.parameter): LatestValue(Parameter(r.parameter), float(r.value), r.measured_at, r.device_id)
        for r in rows
    }


def _care_team(conn: sa.Connection, patient_id: str, at: datetime) -> tuple[CareTeamMember, ...]:
    t = s.care_team
    query = sa.select(t).where(t.c.patient_id == patient_id, open_at(t, at)).order_by(t.c.role, t.c.member_id)
    return tuple(care_team_member_of_row(row) for row in conn.execute(query).all())


def _spo2_scale(conn: sa.Connection, patient_id: str) -> SpO2ScaleDecision | None:
    t = s.spo2_scale_decisions
    query = sa.select(t).where(t.c.patient_id == patient_id).order_by(t.c.set_at.desc(), t.c.id.desc()).limit(1)
    row = conn.execute(query).first()
    return None if row is None else SpO2ScaleDecision(row.patient_id, SpO2Scale(row.scale), row.set_by, row.set_at)


def _one(conn: sa.Connection, table: sa.Table, patient_id: str) -> sa.Row[tuple[object, ...]] | None:
    return conn.execute(sa.select(table).where(table.c.patient_id == patient_id)).first()


def alert_facts(conn: sa.Connection, alert: Alert, *, at: datetime) -> AlertFacts:
    """The facts about `alert` as they stand at `at`, read on `conn` (inside the caller's transaction)."""
    ward, site = _ward_and_site(conn, alert)
    facts = AlertFacts(alert=alert, at=at, site=site, ward=ward)
    patient_id = alert.patient_id
    if patient_id is None:
        return facts
    patient_row = _one(conn, s.patients, patient_id)
    stay_row = conn.execute(
        sa.select(s.stays).where(s.stays.c.patient_id == patient_id, open_at(s.stays, at)).order_by(s.stays.c.start_at)
    ).all()
    stay = stay_of_row(stay_row[-1]) if stay_row else None
    bed_row = None
    if stay is not None and stay.bed_id is not None:
        bed_row = conn.execute(sa.select(s.beds).where(s.beds.c.bed_id == stay.bed_id)).first()
    score_row, risk_row = _one(conn, s.scores_current, patient_id), _one(conn, s.risks_current, patient_id)
    return AlertFacts(
        alert=alert,
        at=at,
        site=site,
        ward=ward,
        bed=Bed(bed_row.bed_id, bed_row.ward_id, bed_row.label) if bed_row is not None else None,
        patient=(
            Patient(patient_row.patient_id, patient_row.display_name, patient_row.birth_year)
            if patient_row is not None
            else None
        ),
        stay=stay,
        score=score_of_row(score_row) if score_row is not None else None,
        latest=_latest(conn, patient_id),
        trend=_trend(conn, patient_id, at),
        risk=risk_of_row(risk_row) if risk_row is not None else None,
        care_team=_care_team(conn, patient_id, at),
        spo2_scale=_spo2_scale(conn, patient_id),
        limits=limits_in_force(conn, [patient_id]).get(patient_id, ()),
    )


def _facts_of_alert(conn: sa.Connection, alert_id: int, at: datetime) -> AlertFacts:
    row = conn.execute(sa.select(s.alerts).where(s.alerts.c.alert_id == alert_id)).first()
    if row is None:
        raise NotFound("alert", str(alert_id))
    return alert_facts(conn, alert_of_row(row), at=at)


class AlertFactsQueries(SqlStore):
    async def alert_facts(self, alert_id: int, *, at: datetime) -> AlertFacts:
        """What the alert's ISBAR message says now, read in one unit of work. Raises NotFound."""
        return await self._read(lambda c: _facts_of_alert(c, alert_id, at))
