"""The team board read from the store: a row per patient the team follows, wherever the patient is (at home, in a
KAD or sykestue bed of any site, or nowhere now), with status, vitals, alerts, tasks, follow-up and the plan note."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from core.outreach import OutreachState, OutreachTask, Team
from core.store import Store
from core.types import CareSetting, ClinicalRisk, PatientScore, Site, Stay, Ward
from dashboard_api.schemas import AlertOut, ScoreOut, VitalOut
from dashboard_api.schemas_team import (
    BoardRowOut,
    OpenItemOut,
    PlanNoteOut,
    StaffActionOut,
    StatusOut,
    TaskOut,
    WhereOut,
)

__all__ = ["MISSED_PERIOD", "TASKS_MAX", "board_rows", "task_page"]

# Missed check-ins are counted over a week: a pattern of dropping out shows, without months of history.
MISSED_PERIOD = timedelta(days=7)
# Tasks on one read of a team's list or board (REST and the live board): a team follows tens of patients, and an
# unanswered hourly plan opens ~170 a week. Each patient's most pressing task is read first, so a cut list leaves out
# the older tasks of patients with many, never a patient's newest, and says it was cut.
TASKS_MAX = 500
_BAND_WORD = {
    ClinicalRisk.HIGH: "High",
    ClinicalRisk.MEDIUM: "Medium",
    ClinicalRisk.LOW_MEDIUM: "Low-medium (a single 3)",
    ClinicalRisk.LOW: "Low",
}
_BAND_RANK = {"high": 0, "medium": 1, "low-medium": 2, "low": 3, "none": 4}
_IN_A_BED = {"kad": "KAD bed", "sykestue": "Sykestue bed"}


def _status(score: PatientScore | None) -> StatusOut:
    if score is None:
        return StatusOut(band="none", word="No NEWS2 yet", news2=None, complete=None)
    return StatusOut(band=score.risk.value, word=_BAND_WORD[score.risk], news2=score.total, complete=score.complete)


def _where(stay: Stay | None, ward: Ward | None, site: Site | None, bed: str | None) -> WhereOut:
    if stay is None or ward is None:
        return WhereOut(setting="none", site_id=None, site_name=None, site_kind=None, ward_id=None, ward_name=None,
                        bed_label=None, text="No current stay")  # fmt: skip
    site_name = site.name if site else ward.site_id
    kind = site.kind.value if site else None
    if stay.setting is CareSetting.HOME:
        setting, text = "home", f"At home · {site_name}"
    else:
        setting, text = "bed", f"{_IN_A_BED.get(kind or '', 'Bed')} {bed or '?'} · {site_name}"
    return WhereOut(setting=setting, site_id=ward.site_id, site_name=site_name, site_kind=kind, ward_id=ward.ward_id,
                    ward_name=ward.name, bed_label=bed, text=text)  # fmt: skip


async def _places(store: Store, stays: Sequence[Stay]) -> tuple[dict[str, Ward], dict[str, Site], dict[str, str]]:
    wards = {ward_id: await store.get_ward(ward_id) for ward_id in sorted({s.ward_id for s in stays})}
    sites = {s.site_id: s for s in await store.list_sites(include_retired=True)}
    return wards, sites, await store.bed_labels(sorted({s.bed_id for s in stays if s.bed_id}))


async def task_page(
    store: Store, team_id: str, *, states: Sequence[OutreachState], patient_ids: Sequence[str]
) -> tuple[list[OutreachTask], bool]:
    """The first TASKS_MAX tasks of `patient_ids` in the store's order, and whether there were more."""
    tasks = await store.outreach_tasks(team_id, states=states, patient_ids=patient_ids, limit=TASKS_MAX + 1)
    return tasks[:TASKS_MAX], len(tasks) > TASKS_MAX


async def board_rows(
    store: Store, team: Team, patient_ids: Sequence[str], *, at: datetime
) -> tuple[list[BoardRowOut], bool]:
    """The rows of `patient_ids` (the team's patients, or some of them for a live update), most urgent first, and
    whether their tasks were more than TASKS_MAX (the rows show the first TASKS_MAX in the store's order)."""
    if not patient_ids:
        return [], False
    stays = await store.stays_of_patients(patient_ids, at=at)
    wards, sites, beds = await _places(store, list(stays.values()))
    names = await store.display_names(patient_ids)
    scores = await store.current_scores(patient_ids)
    latest = await store.latest_values(patient_ids)
    alerts = await store.list_alerts(patient_ids=patient_ids)
    tasks, truncated = await task_page(
        store, team.team_id, states=[OutreachState.OPEN, OutreachState.TAKEN], patient_ids=patient_ids
    )  # the rows' patients only: tasks of patients no longer followed crowd out none of theirs
    follow_up = await store.follow_up(patient_ids, since=at - MISSED_PERIOD)
    notes = await store.plan_notes(team.team_id, patient_ids)
    rows = []
    for pid in patient_ids:
        stay = stays.get(pid)
        ward = wards.get(stay.ward_id) if stay else None
        site = sites.get(ward.site_id) if ward else None
        bed = beds.get(stay.bed_id) if stay and stay.bed_id else None
        values = sorted(latest.get(pid, {}).values(), key=lambda v: v.parameter.value)
        score, follow, note = scores.get(pid), follow_up[pid], notes.get(pid)
        rows.append(
            BoardRowOut(
                patient_id=pid, display_name=names.get(pid, pid), where=_where(stay, ward, site, bed),
                status=_status(score),
                score=ScoreOut.of(score) if score else None, vitals=[VitalOut.of(v, at=at) for v in values],
                alerts=[AlertOut.of(a) for a in alerts if a.patient_id == pid],
                tasks=[TaskOut.of(t) for t in tasks if t.patient_id == pid],
                worklist=[OpenItemOut.of(i) for i in follow.open_items], missed_check_ins=follow.missed_check_ins,
                last_reading_at=max((v.measured_at for v in values), default=None),
                last_staff_action=StaffActionOut.of(follow.last_staff_action) if follow.last_staff_action else None,
                plan_note=PlanNoteOut.of(note) if note else None,
            )
        )  # fmt: skip
    rows.sort(key=lambda r: (_BAND_RANK[r.status.band], -len(r.alerts), -r.missed_check_ins, r.display_name))
    return rows, truncated
