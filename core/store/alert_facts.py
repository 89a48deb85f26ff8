"""Reading alerts' facts (core/alert_facts.py) for a batch of alerts in a fixed number of queries: their places,
patients, stays, scores, latest values, NEWS2 trend, ML risk, care teams, SpO2 scales and own limits.

A firing batch of 50 chains reads its facts in ~15 queries, not 15 per chain: after an outage a unit's alerts fire
together, and each step's message must still say what the store says now.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from core.alert_facts import TREND_HOURS_AGO, AlertFacts, ScorePoint
from core.errors import NotFound
from core.store import schema as s
from core.store.alert_rows import alert_of_row
from core.store.limits import limits_in_force
from core.store.outreach import with_team_members
from core.store.reference import care_team_member_of_row, open_at, stay_of_row
from core.store.scores import risk_of_row, score_of_row
from core.store.sql import SqlStore, one_of
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
    Stay,
    Ward,
)

__all__ = ["TREND_LOOKBACK", "AlertFactsQueries", "alert_facts"]

# A trend point is the last score within this long before its time: an older one says nothing about that moment.
TREND_LOOKBACK = timedelta(hours=1)


def _rows_by(conn: sa.Connection, table: sa.Table, column: str, keys: Iterable[str]) -> dict[str, Any]:
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    return {getattr(r, column): r for r in conn.execute(sa.select(table).where(one_of(table.c[column], wanted)))}


def _places(conn: sa.Connection, alerts: Sequence[Alert]) -> tuple[dict[str, Ward], dict[str, Site], dict[int, str]]:
    """Wards by id, sites by id, and each alert's site id (its ward's, or its device's)."""
    wards = {
        w: Ward(r.ward_id, r.site_id, r.name)
        for w, r in _rows_by(conn, s.wards, "ward_id", (a.ward_id for a in alerts if a.ward_id)).items()
    }
    device_sites = _rows_by(conn, s.devices, "device_id", (a.device_id for a in alerts if a.device_id))
    site_of: dict[int, str] = {}
    for alert in alerts:
        ward = wards.get(alert.ward_id or "")
        device = device_sites.get(alert.device_id or "")
        site_id = ward.site_id if ward is not None else (device.site_id if device is not None else None)
        if site_id is not None:
            site_of[alert.alert_id] = site_id
    site_rows = _rows_by(conn, s.sites, "site_id", site_of.values())
    sites = {k: Site(r.site_id, r.name, SiteKind(r.kind)) for k, r in site_rows.items()}
    return wards, sites, site_of


def _stays(conn: sa.Connection, patient_ids: Sequence[str], at: datetime) -> dict[str, Stay]:
    query = sa.select(s.stays).where(one_of(s.stays.c.patient_id, patient_ids), open_at(s.stays, at))
    return {stay.patient_id: stay for stay in map(stay_of_row, conn.execute(query.order_by(s.stays.c.start_at)))}


def _trends(conn: sa.Connection, patient_ids: Sequence[str], at: datetime) -> dict[str, list[ScorePoint]]:
    """Each patient's NEWS2 as it stood at each sample time: one grouped query per sample, on the history index."""
    h = s.scores_history
    trends: dict[str, list[ScorePoint]] = {}
    for hours_ago in TREND_HOURS_AGO:
        then = at - timedelta(hours=hours_ago)
        last = (
            sa.select(h.c.patient_id, sa.func.max(h.c.computed_at).label("computed_at"))
            .where(
                one_of(h.c.patient_id, patient_ids), h.c.computed_at <= then, h.c.computed_at > then - TREND_LOOKBACK
            )
            .group_by(h.c.patient_id)
            .subquery()
        )
        query = sa.select(h.c.patient_id, h.c.total, h.c.complete, h.c.computed_at).join(
            last, sa.and_(h.c.patient_id == last.c.patient_id, h.c.computed_at == last.c.computed_at)
        )
        for row in conn.execute(query):
            point = ScorePoint(hours_ago, int(row.total), bool(row.complete), row.computed_at)
            trends.setdefault(row.patient_id, []).append(point)
    return trends


def _latest(conn: sa.Connection, patient_ids: Sequence[str]) -> dict[str, dict[Parameter, LatestValue]]:
    latest: dict[str, dict[Parameter, LatestValue]] = {}
    for r in conn.execute(sa.select(s.latest_values).where(one_of(s.latest_values.c.patient_id, patient_ids))):
        value = LatestValue(Parameter(r.parameter), float(r.value), r.measured_at, r.device_id)
        latest.setdefault(r.patient_id, {})[value.parameter] = value
    return latest


def _care_teams(conn: sa.Connection, patient_ids: Sequence[str], at: datetime) -> dict[str, list[CareTeamMember]]:
    t = s.care_team
    query = sa.select(t).where(one_of(t.c.patient_id, patient_ids), open_at(t, at)).order_by(t.c.role, t.c.member_id)
    teams: dict[str, list[CareTeamMember]] = {}
    for member in with_team_members(conn, list(map(care_team_member_of_row, conn.execute(query))), at):
        teams.setdefault(member.patient_id, []).append(member)
    return teams


def _spo2_scales(conn: sa.Connection, patient_ids: Sequence[str]) -> dict[str, SpO2ScaleDecision]:
    t = s.spo2_scale_decisions
    query = sa.select(t).where(one_of(t.c.patient_id, patient_ids)).order_by(t.c.set_at, t.c.id)
    return {
        r.patient_id: SpO2ScaleDecision(r.patient_id, SpO2Scale(r.scale), r.set_by, r.set_at)
        for r in conn.execute(query)
    }


def alert_facts(conn: sa.Connection, alerts: Sequence[Alert], *, at: datetime) -> dict[int, AlertFacts]:
    """The facts about each alert as they stand at `at`, read on `conn` (inside the caller's transaction)."""
    wards, sites, site_of = _places(conn, alerts)
    ids = sorted({a.patient_id for a in alerts if a.patient_id is not None})
    stays = _stays(conn, ids, at) if ids else {}
    beds = _rows_by(conn, s.beds, "bed_id", (st.bed_id for st in stays.values() if st.bed_id))
    patients = _rows_by(conn, s.patients, "patient_id", ids)
    scores = _rows_by(conn, s.scores_current, "patient_id", ids)
    risks = _rows_by(conn, s.risks_current, "patient_id", ids)
    latest, trends = (_latest(conn, ids), _trends(conn, ids, at)) if ids else ({}, {})
    teams, scales = (_care_teams(conn, ids, at), _spo2_scales(conn, ids)) if ids else ({}, {})
    limits = limits_in_force(conn, ids) if ids else {}
    facts = {}
    for alert in alerts:
        site = sites.get(site_of.get(alert.alert_id, ""))
        place = AlertFacts(alert, at, site=site, ward=wards.get(alert.ward_id or ""))
        pid = alert.patient_id
        if pid is None:
            facts[alert.alert_id] = place
            continue
        stay = stays.get(pid)
        bed = beds.get(stay.bed_id) if stay is not None and stay.bed_id else None
        patient = patients.get(pid)
        facts[alert.alert_id] = AlertFacts(
            alert, at, site=site, ward=place.ward, stay=stay,
            bed=Bed(bed.bed_id, bed.ward_id, bed.label) if bed is not None else None,
            patient=Patient(pid, patient.display_name, patient.birth_year) if patient is not None else None,
            score=score_of_row(scores[pid]) if pid in scores else None,
            risk=risk_of_row(risks[pid]) if pid in risks else None,
            latest=latest.get(pid, {}), trend=tuple(trends.get(pid, ())), care_team=tuple(teams.get(pid, ())),
            spo2_scale=scales.get(pid), limits=limits.get(pid, ()),
        )  # fmt: skip
    return facts


def _facts_of_alert(conn: sa.Connection, alert_id: int, at: datetime) -> AlertFacts:
    row = conn.execute(sa.select(s.alerts).where(s.alerts.c.alert_id == alert_id)).first()
    if row is None:
        raise NotFound("alert", str(alert_id))
    return alert_facts(conn, [alert_of_row(row)], at=at)[alert_id]


class AlertFactsQueries(SqlStore):
    async def alert_facts(self, alert_id: int, *, at: datetime) -> AlertFacts:
        """What the alert's ISBAR message says now, read in one unit of work. Raises NotFound."""
        return await self._read(lambda c: _facts_of_alert(c, alert_id, at))
