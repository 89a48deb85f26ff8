"""A patient's alerts follow their stays, on both engines: a transfer takes them to the receiving ward, whose staff
are paged for an open one; a discharge or the end of home follow-up ends them, so nothing keeps paging the old unit
and a readmission's first alert is a new one."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from alerts.confirmation import apply_observed
from alerts.lifecycle import Observed, acknowledge, observe
from alerts.timers import fire_due_timers
from core.escalation import ContactPoint, DeliveryState, WebhookEndpoint
from core.oncall import OnCallRole, Rotation
from core.store import Store
from core.types import (
    AlertKey,
    AlertKind,
    AlertPhase,
    AlertSeverity,
    AlertState,
    Bed,
    Patient,
    Site,
    SiteKind,
    Ward,
)

T0 = datetime(2025, 3, 3, 20, 0, tzinfo=UTC)
NEWS2 = AlertKey("p1", None, AlertKind.NEWS2)
LIMIT = AlertKey("p1", None, AlertKind.PATIENT_LIMIT)
NURSES = {"kad": "nurse-kad", "sy": "nurse-sy"}


async def _units(store: Store) -> None:
    """A KAD (ward kad-w, beds k1 k2; ward kad-obs, bed o1) and a sykestue (ward sy-w, bed s1), each with its own
    unit nurse on call all day, reachable through one pager gateway; p1 in bed k1 from T0."""
    await store.create_site(Site("kad", "KAD", SiteKind.KAD))
    await store.create_site(Site("sy", "Sykestua", SiteKind.SYKESTUE))
    for ward_id, site_id in (("kad-w", "kad"), ("kad-obs", "kad"), ("sy-w", "sy")):
        await store.create_ward(Ward(ward_id, site_id, ward_id.upper()))
    for bed_id, ward_id in (("k1", "kad-w"), ("k2", "kad-w"), ("o1", "kad-obs"), ("s1", "sy-w")):
        await store.create_bed(Bed(bed_id, ward_id, bed_id.upper()))
    await store.create_patient(Patient("p1", "Test P1"), national_id=None, at=T0, by="admin")
    await store.upsert_webhook_endpoint(WebhookEndpoint("gw", "http://127.0.0.1:9/hook", b"s" * 32, "pager gateway"))
    for site_id, nurse in NURSES.items():
        rotation = Rotation(
            0, f"nurse {site_id}", OnCallRole.UNIT_NURSE, frozenset({site_id}), (time(8),), (nurse,), date(2025, 1, 1)
        )
        await store.add_rotation(rotation)
        await store.set_contact_points(nurse, [ContactPoint(nurse, "gw", f"pager-{nurse}")])
    await store.admit(patient_id="p1", bed_id="k1", stay_id="st-1", at=T0)


async def _seen(store: Store, key: AlertKey, severity: AlertSeverity, ward_id: str, at: datetime) -> int:
    change = await apply_observed(store, Observed(key, severity, f"{key.kind.value} {severity.name}", at, ward_id))
    assert change is not None and change.alert.alert_id
    return change.alert.alert_id


async def _paged(store: Store, alert_id: int) -> list[tuple[int, str, DeliveryState]]:
    return [(d.epoch, d.person_id, d.state) for d in await store.list_deliveries(alert_id)]


async def test_an_open_alert_follows_a_transfer_and_pages_the_receiving_units_nurse_not_the_old_one(
    store: Store,
) -> None:
    await _units(store)
    alert_id = await _seen(store, NEWS2, AlertSeverity.HIGH, "kad-w", T0)
    await fire_due_timers(store, lambda: T0)  # nurse-kad paged
    moved_at = T0 + timedelta(seconds=30)

    change = await store.transfer(patient_id="p1", bed_id="s1", stay_id="st-2", at=moved_at)
    await fire_due_timers(store, lambda: moved_at)

    alert = await store.get_alert(alert_id)
    assert (alert.ward_id, alert.state, alert.updated_at) == ("sy-w", AlertState.OPEN, moved_at)
    assert [a.alert_id for a in change.alerts] == [alert_id] and change.alerts[0].ward_id == "sy-w"
    assert [a.alert_id for a in await store.list_alerts(ward_ids=["sy-w"])] == [alert_id]
    assert await store.list_alerts(ward_ids=["kad-w"]) == []
    moved = (await store.alert_history(alert_id))[-2]  # the last is the new chain's first step
    assert (moved.phase, moved.at) == (AlertPhase.TRANSFERRED, moved_at)
    assert moved.reason == "patient moved from ward kad-w to ward sy-w: escalation starts again at site sy"
    chain = await store.get_escalation(alert_id)
    assert chain is not None and (chain.site_id, chain.epoch) == ("sy", 2)
    assert await _paged(store, alert_id) == [
        (1, "nurse-kad", DeliveryState.CANCELLED),  # not sent yet: the old unit is not paged for her any more
        (2, "nurse-sy", DeliveryState.QUEUED),
    ]


async def test_an_acknowledged_alert_moves_quietly_and_re_notifies_the_receiving_unit(store: Store) -> None:
    await _units(store)
    alert_id = await _seen(store, NEWS2, AlertSeverity.HIGH, "kad-w", T0)
    await store.update_alert_by_id(alert_id, lambda a: acknowledge(a, by="nurse-kad", at=T0 + timedelta(minutes=1)))
    await store.transfer(patient_id="p1", bed_id="s1", stay_id="st-2", at=T0 + timedelta(minutes=2))

    quiet = await store.get_escalation(alert_id)
    assert quiet is not None and (quiet.epoch, quiet.running) == (1, False)  # nobody paged for a move
    assert (await store.alert_history(alert_id))[-1].reason == "patient moved from ward kad-w to ward sy-w"
    still_bad = T0 + timedelta(minutes=12)
    await _seen(store, NEWS2, AlertSeverity.HIGH, "sy-w", still_bad)  # past the 10 min re-notify: open again
    await fire_due_timers(store, lambda: still_bad)

    alert = await store.get_alert(alert_id)
    assert (alert.state, alert.ward_id) == (AlertState.OPEN, "sy-w")
    assert [p for p in await _paged(store, alert_id) if p[0] == 2] == [(2, "nurse-sy", DeliveryState.QUEUED)]


async def test_a_move_within_the_site_changes_the_ward_and_keeps_the_chain_running(store: Store) -> None:
    await _units(store)
    alert_id = await _seen(store, NEWS2, AlertSeverity.HIGH, "kad-w", T0)
    await store.transfer(patient_id="p1", bed_id="o1", stay_id="st-2", at=T0 + timedelta(seconds=5))
    same_ward = await store.transfer(patient_id="p1", bed_id="k2", stay_id="st-3", at=T0 + timedelta(seconds=9))

    chain = await store.get_escalation(alert_id)
    assert chain is not None and (chain.site_id, chain.epoch) == ("kad", 1)
    history = await store.alert_history(alert_id)
    assert [(t.phase, t.reason) for t in history[1:]] == [
        (AlertPhase.TRANSFERRED, "patient moved from ward kad-w to ward kad-obs"),
        (AlertPhase.TRANSFERRED, "patient moved from ward kad-obs to ward kad-w"),
    ]
    assert [a.ward_id for a in same_ward.alerts] == ["kad-w"]


@pytest.mark.parametrize("ends", ["discharge", "end_home"])
async def test_a_discharge_ends_the_patients_alerts_and_pending_conditions(store: Store, ends: str) -> None:
    await _units(store)
    if ends == "end_home":
        await store.create_site(Site("home", "Hjemmeoppfølging", SiteKind.HOME_PROGRAMME))
        await store.create_ward(Ward("home-w", "home", "Program"))
        await store.discharge(patient_id="p1", at=T0)
        await store.enrol_home(patient_id="p1", ward_id="home-w", stay_id="st-h", at=T0)
    ward_id = "kad-w" if ends == "discharge" else "home-w"
    open_id = await _seen(store, NEWS2, AlertSeverity.HIGH, ward_id, T0 + timedelta(minutes=1))
    acked_id = await _seen(store, LIMIT, AlertSeverity.HIGH, ward_id, T0 + timedelta(minutes=1))
    await store.update_alert_by_id(acked_id, lambda a: acknowledge(a, by="nurse-kad", at=T0 + timedelta(minutes=2)))
    other = AlertKey("p1", None, AlertKind.RESPIRATORY_DEPRESSION)  # waits 30 s at a bedside
    await apply_observed(store, Observed(other, AlertSeverity.HIGH, "RR 7", T0 + timedelta(minutes=2), ward_id))
    assert len(await store.pending_alerts(patient_ids=["p1"])) == 1  # waiting out its confirmation delay
    at = T0 + timedelta(minutes=3)

    change = await (store.discharge if ends == "discharge" else store.end_home)(patient_id="p1", at=at)

    why = "discharged" if ends == "discharge" else "home follow-up ended"
    assert sorted(a.alert_id for a in change.alerts) == [open_id, acked_id]
    for alert_id in (open_id, acked_id):
        alert = await store.get_alert(alert_id)
        assert (alert.state, alert.resolved_at, alert.resolve_reason) == (AlertState.RESOLVED, at, why)
        chain = await store.get_escalation(alert_id)
        assert chain is None or not chain.running
    assert await store.pending_alerts(patient_ids=["p1"]) == []
    assert await fire_due_timers(store, lambda: at + timedelta(hours=1)) == []  # nothing re-notifies, nothing opens


async def test_a_readmitted_patients_first_alert_is_new_and_pages_the_new_unit(store: Store) -> None:
    await _units(store)
    await apply_observed(store, Observed(NEWS2, AlertSeverity.MEDIUM, "NEWS2 5", T0, "kad-w"))  # pending 20 s
    old_id = await _seen(store, NEWS2, AlertSeverity.MEDIUM, "kad-w", T0 + timedelta(seconds=30))
    await store.discharge(patient_id="p1", at=T0 + timedelta(hours=1))
    back = T0 + timedelta(days=5)
    await store.admit(patient_id="p1", bed_id="s1", stay_id="st-2", at=back)

    new_id = await _seen(store, NEWS2, AlertSeverity.HIGH, "sy-w", back + timedelta(minutes=1))
    await fire_due_timers(store, lambda: back + timedelta(minutes=1))

    assert new_id != old_id
    new = await store.get_alert(new_id)
    assert (new.ward_id, new.state, new.opened_at) == ("sy-w", AlertState.OPEN, back + timedelta(minutes=1))
    assert await _paged(store, new_id) == [(1, "nurse-sy", DeliveryState.QUEUED)]


# A rule decides on the stay it read; a transfer or a discharge may commit before the decision is stored (patients
# are moved when they deteriorate, which is when alerts open). The alert goes where the patient is as it is stored.
async def test_an_alert_decided_on_the_stay_read_before_a_transfer_opens_on_the_receiving_ward(store: Store) -> None:
    await _units(store)
    moved_at = T0 + timedelta(minutes=5)
    await store.transfer(patient_id="p1", bed_id="s1", stay_id="st-2", at=moved_at)

    alert_id = await _seen(store, NEWS2, AlertSeverity.HIGH, "kad-w", moved_at)  # the ward read before the transfer
    await fire_due_timers(store, lambda: moved_at)

    alert = await store.get_alert(alert_id)
    assert alert.ward_id == "sy-w"
    assert {d.person_id for d in await store.list_deliveries(alert_id)} == {NURSES["sy"]}


async def test_an_alert_decided_on_the_stay_read_before_a_discharge_opens_nowhere(store: Store) -> None:
    await _units(store)
    left_at = T0 + timedelta(minutes=5)
    await store.discharge(patient_id="p1", at=left_at)

    change = await apply_observed(store, Observed(NEWS2, AlertSeverity.HIGH, "NEWS2 9", left_at, "kad-w"))

    assert change is None
    assert await store.list_alerts(patient_ids=["p1"]) == []


async def test_a_worse_alert_raised_on_the_ward_read_before_a_transfer_stays_on_the_receiving_ward(
    store: Store,
) -> None:
    await _units(store)
    medium = Observed(NEWS2, AlertSeverity.MEDIUM, "NEWS2 5", T0, "kad-w")
    opened = await store.update_alert(NEWS2, lambda current: observe(current, medium))
    assert opened is not None
    moved_at = T0 + timedelta(minutes=5)
    await store.transfer(patient_id="p1", bed_id="s1", stay_id="st-2", at=moved_at)

    worse = Observed(NEWS2, AlertSeverity.HIGH, "NEWS2 9", moved_at + timedelta(seconds=1), "kad-w")
    change = await store.update_alert(NEWS2, lambda current: observe(current, worse))

    assert change is not None and change.phase is AlertPhase.RAISED

    alert = await store.get_alert(opened.alert.alert_id)
    assert (alert.severity, alert.ward_id) == (AlertSeverity.HIGH, "sy-w")


async def test_an_escalation_raised_by_hand_after_a_discharge_still_opens_on_the_ward_it_names(store: Store) -> None:
    await _units(store)
    await store.discharge(patient_id="p1", at=T0 + timedelta(minutes=5))

    change = await store.raise_alert(
        patient_id="p1", device_id=None, ward_id="kad-w", kind=AlertKind.WORKLIST_ESCALATION,
        severity=AlertSeverity.HIGH, message="escalated by a coordinator", at=T0 + timedelta(minutes=6),
    )  # fmt: skip

    assert (change.alert.ward_id, change.alert.state) == ("kad-w", AlertState.OPEN)
