"""Which units a user covers (their token's sites and the sites of rotations naming them) and the alert rows there."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from core.store import Store
from core.types import Alert, AlertPriority, AlertState, Bed, Site, Stay, Ward
from dashboard_api.auth import Principal
from dashboard_api.escalation_words import escalation_states
from dashboard_api.schemas import AlertOut, PatientSummary
from dashboard_api.schemas_covered import CoveredAlertOut, CoveredUnitOut

__all__ = ["MAX_COVERED_ALERTS", "Coverage", "coverage_of", "covered_rows", "sort_rows"]

# A specialist covering many units reads this list on a phone at night: past a few hundred open alerts the list is
# not what helps, and each row costs a few reads.
MAX_COVERED_ALERTS = 500
HOME_PLACE = "Home"
_PRIORITY_RANK = {AlertPriority.HIGH.value: 0, AlertPriority.MEDIUM.value: 1, AlertPriority.LOW.value: 2}
ACTIVE_STATES = (AlertState.OPEN, AlertState.ACKNOWLEDGED)


@dataclass(frozen=True, slots=True)
class Coverage:
    """The wards a user covers that the token lets them see, and the rostered sites it does not."""

    sites: dict[str, Site]
    wards: dict[str, Ward]
    via: dict[str, tuple[str, ...]]  # site id -> why the user covers it
    rostered_without_access: tuple[str, ...]

    def units(self) -> list[CoveredUnitOut]:
        return [
            CoveredUnitOut(
                site_id=w.site_id,
                site_name=self.sites[w.site_id].name,
                ward_id=w.ward_id,
                ward_name=w.name,
                via=list(self.via[w.site_id]),
            )
            for w in sorted(self.wards.values(), key=lambda w: (self.sites[w.site_id].name, w.name))
        ]


async def _rostered_sites(store: Store, user_id: str, at: datetime) -> dict[str, list[str]]:
    """Site id -> the rotations naming the user (as a member, or through an override covering `at`)."""
    rotations = await store.list_rotations()
    overrides = await store.list_overrides([r.rotation_id for r in rotations], since=at, until=at)
    swapped_in = {o.rotation_id for o in overrides if o.person_id == user_id and o.starts_at <= at < o.ends_at}
    found: dict[str, list[str]] = {}
    for rotation in rotations:
        if user_id in rotation.members or rotation.rotation_id in swapped_in:
            for site_id in sorted(rotation.site_ids):
                found.setdefault(site_id, []).append(f"rotation {rotation.name} ({rotation.role.value})")
    return found


async def coverage_of(store: Store, principal: Principal, *, at: datetime) -> Coverage:
    """Token sites plus rostered sites, limited to what the token grants: a rotation is not an access grant."""
    sites = {s.site_id: s for s in await store.list_sites()}
    rostered = await _rostered_sites(store, principal.user_id, at)
    via: dict[str, list[str]] = {}
    for site_id in sites:
        if site_id in principal.site_ids or principal.all_sites:
            via.setdefault(site_id, []).append("token")
        if site_id in rostered and principal.may_see(site_id):
            via.setdefault(site_id, []).extend(rostered[site_id])
    wards = {w.ward_id: w for w in await store.list_wards(site_ids=sorted(via))} if via else {}
    return Coverage(
        sites=sites,
        wards=wards,
        via={site_id: tuple(reasons) for site_id, reasons in via.items()},
        rostered_without_access=tuple(sorted(s for s in rostered if not principal.may_see(s))),
    )


def sort_rows(rows: Sequence[CoveredAlertOut]) -> list[CoveredAlertOut]:
    """High priority first, then the oldest first: the alert waiting longest is the one to look at."""
    return sorted(rows, key=lambda r: (_PRIORITY_RANK.get(r.alert.priority, 3), r.alert.opened_at, r.alert.alert_id))


async def _places(store: Store, alerts: Sequence[Alert], at: datetime) -> tuple[dict[str, Stay], dict[str, Bed]]:
    patient_ids = sorted({a.patient_id for a in alerts if a.patient_id is not None})
    stays = await store.stays_of_patients(patient_ids, at=at) if patient_ids else {}
    beds: dict[str, Bed] = {}
    for ward_id in sorted({s.ward_id for s in stays.values() if s.bed_id is not None}):
        beds.update({b.bed_id: b for b in await store.list_beds(ward_id)})
    return stays, beds


def _place(alert: Alert, stay: Stay | None, beds: dict[str, Bed]) -> str:
    if alert.patient_id is None:
        return f"device {alert.device_id}" if alert.device_id else "unit"
    if stay is None:
        return "not admitted"
    if stay.bed_id is None:
        return HOME_PLACE
    bed = beds.get(stay.bed_id)
    return bed.label if bed else stay.bed_id


async def covered_rows(
    store: Store, coverage: Coverage, alerts: Sequence[Alert], *, at: datetime
) -> list[CoveredAlertOut]:
    """A row per alert of a covered ward (others are left out), read from the store at `at`, unsorted."""
    mine = [a for a in alerts if a.ward_id is not None and a.ward_id in coverage.wards]
    stays, beds = await _places(store, mine, at)
    patients = await store.get_patients([a.patient_id for a in mine if a.patient_id is not None])
    escalations = await escalation_states(store, mine, now=at)
    rows = []
    for alert in mine:
        assert alert.ward_id is not None
        ward = coverage.wards[alert.ward_id]
        stay = stays.get(alert.patient_id) if alert.patient_id else None
        patient = patients.get(alert.patient_id) if alert.patient_id else None
        rows.append(
            CoveredAlertOut(
                alert=AlertOut.of(alert),
                site_id=ward.site_id,
                site_name=coverage.sites[ward.site_id].name,
                ward_name=ward.name,
                place=_place(alert, stay, beds),
                bed_id=stay.bed_id if stay else None,
                patient=PatientSummary.of(patient) if patient else None,
                escalation=escalations[alert.alert_id],
            )
        )
    return rows
