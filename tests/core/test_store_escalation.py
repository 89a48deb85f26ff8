"""Escalation chains, deliveries and rosters in the store: the same contract on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta

import orjson
import pytest
import sqlalchemy as sa

from alerts import lifecycle
from alerts.escalation import fire_step
from core.errors import NotFound
from core.escalation import (
    ContactPoint,
    DeliveryPurpose,
    DeliveryState,
    EscalationPolicy,
    EscalationStep,
    EscalationTarget,
    RecipientRateLimit,
    WebhookEndpoint,
    default_policy,
    policy_for_kind,
)
from core.oncall import OnCallRole, RosterOverride, Rotation
from core.store import Store
from core.types import (
    Alert,
    AlertKind,
    AlertPhase,
    AlertPriority,
    AlertSeverity,
    AlertState,
    Bed,
    CareSetting,
    CareTeamMember,
    CareTeamRole,
    ClinicalRisk,
    Device,
    DeviceKind,
    Parameter,
    Patient,
    PatientScore,
    Reading,
    Site,
    SiteKind,
    Stay,
    Ward,
)
from tests.core.conftest import StoreFactory

T0 = datetime(2025, 1, 6, 20, 0, tzinfo=UTC)
PEOPLE = {OnCallRole.UNIT_NURSE: "nurse-kari", OnCallRole.DOCTOR_ON_CALL: "dr-lund"}


async def unit_with_roster(store: Store, *, roles: dict[OnCallRole, str] = PEOPLE) -> None:
    """Site s1 with ward w1; one 24 h rotation per role (one person each), reachable through gateway gw."""
    await store.upsert_site(Site("s1", "Sykestua", SiteKind.SYKESTUE))
    await store.upsert_ward(Ward("w1", "s1", "Senger"))
    await store.upsert_webhook_endpoint(WebhookEndpoint("gw", "http://127.0.0.1:9/hook", b"secret", "pager gateway"))
    for role, person in roles.items():
        rotation = Rotation(0, f"{role.value} s1", role, frozenset({"s1"}), (time(8),), (person,), date(2025, 1, 1))
        await store.add_rotation(rotation)
        await store.set_contact_points(person, [ContactPoint(person, "gw", f"pager-{person}")])


async def open_high(store: Store, *, at: datetime = T0) -> int:
    change = await store.raise_alert(
        patient_id="pat-1",
        device_id=None,
        ward_id="w1",
        kind=AlertKind.NEWS2,
        severity=AlertSeverity.HIGH,
        message="NEWS2 7",
        at=at,
    )
    return change.alert.alert_id


async def fire(store: Store, at: datetime) -> int:
    fired = await store.fire_due_escalations(
        at, lambda chain, alert, ctx, facts: fire_step(chain, alert, ctx, at=at, facts=facts)
    )
    return len(fired)


def doctor_first(site_id: str, priority: AlertPriority, wait_s: int = 60) -> EscalationPolicy:
    """A site's policy that pages the doctor on call first."""
    step = EscalationStep((EscalationTarget.role(OnCallRole.DOCTOR_ON_CALL),), wait_s)
    return EscalationPolicy(site_id, priority, (step,), 0, f"{site_id} {priority.value}")


async def test_opening_an_alert_starts_its_chain_with_the_first_step_due_at_once(store: Store) -> None:
    await unit_with_roster(store)
    alert_id = await open_high(store)
    chain = await store.get_escalation(alert_id)
    assert chain is not None
    assert (chain.epoch, chain.step_index, chain.loop, chain.next_step_at) == (1, 0, 0, T0)
    assert chain.policy == default_policy(AlertPriority.HIGH)
    assert chain.site_id == "s1"


async def test_a_running_chain_keeps_the_policy_it_started_with(store: Store) -> None:
    await unit_with_roster(store)
    alert_id = await open_high(store)
    changed = doctor_first("s1", AlertPriority.HIGH)
    await store.set_escalation_policy(changed, by="admin-1", at=T0)
    assert await store.get_escalation_policy("s1", AlertPriority.HIGH) == changed
    chain = await store.get_escalation(alert_id)
    assert chain is not None and chain.policy == default_policy(AlertPriority.HIGH)


async def test_firing_a_step_queues_a_delivery_per_contact_point_and_times_the_next_step(store: Store) -> None:
    await unit_with_roster(store)
    alert_id = await open_high(store)
    assert await fire(store, T0 + timedelta(seconds=1)) == 1

    deliveries = await store.list_deliveries(alert_id)
    assert [(d.person_id, d.address, d.state, d.step_index) for d in deliveries] == [
        ("nurse-kari", "pager-nurse-kari", DeliveryState.QUEUED, 0)
    ]
    chain = await store.get_escalation(alert_id)
    assert chain is not None
    assert (chain.step_index, chain.next_step_at) == (1, T0 + timedelta(seconds=181))  # full 3 min from when it fired
    history = await store.alert_history(alert_id)
    assert history[-1].phase is AlertPhase.ESCALATED
    assert "notified nurse-kari" in history[-1].reason
    assert await fire(store, T0 + timedelta(seconds=2)) == 0  # not due again


@pytest.mark.integration
async def test_two_workers_polling_at_once_fire_each_step_once(open_store: StoreFactory) -> None:
    first, second = await open_store(), await open_store()
    await unit_with_roster(first)
    ids = [
        (
            await first.raise_alert(
                patient_id=f"pat-{i}",
                device_id=None,
                ward_id="w1",
                kind=AlertKind.NEWS2,
                severity=AlertSeverity.HIGH,
                message="NEWS2 7",
                at=T0,
            )
        ).alert.alert_id
        for i in range(20)
    ]
    at = T0 + timedelta(seconds=1)
    counts = await asyncio.gather(fire(first, at), fire(second, at), fire(first, at), fire(second, at))
    assert sum(counts) == 20
    for alert_id in ids:
        assert len(await first.list_deliveries(alert_id)) == 1


async def test_acknowledging_stops_the_chain_and_cancels_what_has_not_gone_out(store: Store) -> None:
    await unit_with_roster(store)
    alert_id = await open_high(store)
    await fire(store, T0)
    at = T0 + timedelta(seconds=30)
    await store.update_alert_by_id(alert_id, lambda a: lifecycle.acknowledge(a, by="nurse-kari", at=at))

    chain = await store.get_escalation(alert_id)
    assert chain is not None and not chain.running
    assert chain.next_step_at is None and chain.stop_reason == "acknowledged by nurse-kari"
    [delivery] = await store.list_deliveries(alert_id)
    assert delivery.state is DeliveryState.CANCELLED
    assert (delivery.updated_at, delivery.outcome) == (at, "chain ended: acknowledged")
    assert await fire(store, T0 + timedelta(hours=1)) == 0


async def test_acknowledging_after_the_chain_ran_out_still_cancels_the_pages_waiting_to_go_out(store: Store) -> None:
    """Every step fired (both rounds) and pages of the last ones have not gone out yet (a failing gateway holds them
    for a retry). The nurse then acknowledges: those pages are cancelled too. Before, only a running chain's were,
    and the retries went out later saying the alert was open."""
    await unit_with_roster(store)
    alert_id = await open_high(store)
    at = T0
    for _ in range(10):  # each step as it falls due
        chain = await store.get_escalation(alert_id)
        assert chain is not None
        if not chain.running:
            break
        assert chain.next_step_at is not None
        at = max(at, chain.next_step_at)
        await fire(store, at)
    assert chain.stop_reason.startswith("every step fired")
    waiting = [d for d in await store.list_deliveries(alert_id) if d.state is DeliveryState.QUEUED]
    assert waiting, "the test needs pages still waiting to go out"
    acked_at = at + timedelta(minutes=1)

    await store.update_alert_by_id(alert_id, lambda a: lifecycle.acknowledge(a, by="nurse-kari", at=acked_at))

    after = {d.delivery_id: d for d in await store.list_deliveries(alert_id)}
    assert [(after[d.delivery_id].state, after[d.delivery_id].outcome) for d in waiting] == [
        (DeliveryState.CANCELLED, "chain ended: acknowledged")
    ] * len(waiting)


async def test_a_decline_by_everyone_of_a_step_makes_the_next_step_due_at_once(store: Store) -> None:
    await unit_with_roster(store)
    alert_id = await open_high(store)
    await fire(store, T0)
    [delivery] = await store.list_deliveries(alert_id)
    declined_at = T0 + timedelta(seconds=20)
    await store.record_delivery(delivery.delivery_id, DeliveryState.DECLINED, at=declined_at, answered_by="nurse-kari")

    chain = await store.get_escalation(alert_id)
    assert chain is not None and chain.next_step_at == declined_at
    assert await fire(store, declined_at) == 1
    people = [d.person_id for d in await store.list_deliveries(alert_id)]
    assert people == ["nurse-kari", "dr-lund"]


async def test_a_lease_that_ran_out_is_claimed_again_with_the_same_delivery_id(store: Store) -> None:
    await unit_with_roster(store)
    alert_id = await open_high(store)
    await fire(store, T0)
    [(claimed, endpoint)] = await store.claim_deliveries(T0, lease_s=30)
    assert claimed.state is DeliveryState.SENDING and claimed.attempts == 1
    assert endpoint is not None and endpoint.url == "http://127.0.0.1:9/hook"
    assert await store.claim_deliveries(T0 + timedelta(seconds=29), lease_s=30) == []  # still leased

    [(again, _)] = await store.claim_deliveries(T0 + timedelta(seconds=30), lease_s=30)  # the sender died
    assert (again.delivery_id, again.attempts) == (claimed.delivery_id, 2)
    assert len(await store.list_deliveries(alert_id)) == 1


async def test_a_late_report_never_moves_a_delivery_back(store: Store) -> None:
    await unit_with_roster(store)
    alert_id = await open_high(store)
    await fire(store, T0)
    [delivery] = await store.list_deliveries(alert_id)
    await store.record_delivery(delivery.delivery_id, DeliveryState.ACCEPTED, at=T0, answered_by="nurse-kari")
    late = await store.record_delivery(delivery.delivery_id, DeliveryState.READ, at=T0 + timedelta(seconds=5))
    assert late.state is DeliveryState.ACCEPTED and late.answered_by == "nurse-kari"
    retry = await store.record_delivery(delivery.delivery_id, DeliveryState.QUEUED, at=T0, retry_at=T0)
    assert retry.state is DeliveryState.ACCEPTED
    with pytest.raises(NotFound, match="delivery nope not found"):
        await store.record_delivery("nope", DeliveryState.READ, at=T0)


async def test_rotations_and_overrides_are_read_back_by_site(store: Store) -> None:
    specialist = Rotation(
        0,
        "UNN spesialist",
        OnCallRole.HOSPITAL_SPECIALIST,
        frozenset({"s1", "s2"}),
        (time(8), time(15, 30)),
        ("dr-a", "dr-b"),
        date(2025, 1, 1),
    )
    stored = await store.add_rotation(specialist)
    assert stored.rotation_id > 0 and stored.site_ids == frozenset({"s1", "s2"})
    assert await store.list_rotations(site_ids=["s2"]) == [stored]
    assert await store.list_rotations(site_ids=["s3"]) == []
    swap = await store.add_override(RosterOverride(0, stored.rotation_id, "dr-c", T0, T0 + timedelta(hours=2)))
    assert await store.list_overrides([stored.rotation_id], since=T0, until=T0) == [swap]  # starts then
    assert (
        await store.list_overrides([stored.rotation_id], since=T0 + timedelta(hours=2), until=T0 + timedelta(hours=3))
        == []
    )
    with pytest.raises(NotFound):
        await store.add_override(RosterOverride(0, 999, "dr-c", T0, T0 + timedelta(hours=1)))


# --- the message each delivery carries, and the care team informed ------------------------------------------------
async def patient_in_bed_three(store: Store) -> None:
    await store.upsert_bed(Bed("b3", "w1", "3"))
    await store.upsert_patient(Patient("pat-1", "Ola Nordmann", 1948))
    await store.add_stay(Stay("st1", "pat-1", "w1", CareSetting.BEDSIDE, T0 - timedelta(days=1), bed_id="b3"))
    reading = Reading("mon-3", "pat-1", Parameter.RESP_RATE, 26.0, T0 - timedelta(seconds=30), T0)
    await store.append([reading], [])
    scores = [
        PatientScore("pat-1", T0 - timedelta(minutes=150), 3, True, ClinicalRisk.LOW, False),
        PatientScore("pat-1", T0 - timedelta(seconds=10), 8, True, ClinicalRisk.HIGH, True, {Parameter.RESP_RATE: 3}),
    ]
    for score in scores:
        await store.save_scores([score])
    since = T0 - timedelta(days=200)
    await store.add_care_team_member(CareTeamMember("pat-1", "lar-alta", CareTeamRole.LAR_TEAM, "LAR Alta", since))
    await store.set_contact_points("lar-alta", [ContactPoint("lar-alta", "gw", "phone-lar")])


async def test_a_fired_step_carries_the_isbar_of_the_patient_read_in_the_same_transaction(store: Store) -> None:
    await unit_with_roster(store)
    await patient_in_bed_three(store)
    alert_id = await open_high(store)
    await fire(store, T0)
    nurse = next(d for d in await store.list_deliveries(alert_id) if d.person_id == "nurse-kari")
    isbar = orjson.loads(nurse.body)["isbar"]
    assert isbar["identify"].startswith("Ola Nordmann (pat-1, born 1948), Sykestua (sykestue), Senger, bed 3.")
    assert "respiration rate 26 /min" in isbar["situation"]
    # As it stood 2 h ago (the score of 2.5 h ago); none in the hour before "1 h ago", so no point there.
    assert "NEWS2 8" in isbar["assessment"] and "Trend: 3 2 h ago, 8 now." in isbar["assessment"]
    assert "lar team lar-alta (LAR Alta)" in isbar["background"]


async def test_the_care_team_is_informed_and_its_answers_neither_acknowledge_nor_hurry(store: Store) -> None:
    await unit_with_roster(store)
    await patient_in_bed_three(store)
    alert_id = await open_high(store)
    await fire(store, T0)
    deliveries = {d.person_id: d for d in await store.list_deliveries(alert_id)}
    assert {p: d.purpose for p, d in deliveries.items()} == {
        "nurse-kari": DeliveryPurpose.RESPOND,
        "lar-alta": DeliveryPurpose.INFORM,
    }
    # The nurse's page fails and the LAR team reads theirs: the doctor is fetched at once all the same.
    failed_at = T0 + timedelta(seconds=30)
    await store.record_delivery(deliveries["lar-alta"].delivery_id, DeliveryState.READ, at=failed_at)
    await store.record_delivery(deliveries["nurse-kari"].delivery_id, DeliveryState.FAILED, at=failed_at)
    chain = await store.get_escalation(alert_id)
    assert chain is not None and chain.next_step_at == failed_at


async def test_a_care_team_decline_does_not_move_the_chain_on(store: Store) -> None:
    await unit_with_roster(store)
    await patient_in_bed_three(store)
    alert_id = await open_high(store)
    await fire(store, T0)
    lar = next(d for d in await store.list_deliveries(alert_id) if d.person_id == "lar-alta")
    await store.record_delivery(lar.delivery_id, DeliveryState.DECLINED, at=T0 + timedelta(seconds=5))
    chain = await store.get_escalation(alert_id)
    assert chain is not None and chain.next_step_at == T0 + timedelta(minutes=3)  # the nurse still has her time


async def test_a_pager_flooded_with_medium_alerts_gets_ten_a_minute_and_the_rest_later(store: Store) -> None:
    await unit_with_roster(store)
    alert_ids = []
    for n in range(12):  # twelve patients' NEWS2 of 5 at once: twelve pages for the nurse on call
        change = await store.raise_alert(
            patient_id=f"pat-{n}", device_id=None, ward_id="w1", kind=AlertKind.NEWS2,
            severity=AlertSeverity.MEDIUM, message="NEWS2 5", at=T0,
        )  # fmt: skip
        alert_ids.append(change.alert.alert_id)
    await fire(store, T0)
    limit = RecipientRateLimit(max_sends=10, window_s=60.0)
    lease_s = 600  # longer than the test: nothing is claimed again because its sender went quiet
    first = await store.claim_deliveries(T0, lease_s=lease_s, rate=limit)
    assert len(first) == 10
    pages = [d for alert_id in alert_ids for d in await store.list_deliveries(alert_id)]
    held = [d for d in pages if d.state is DeliveryState.QUEUED]
    assert len(held) == 2
    assert all(d.next_attempt_at == T0 + timedelta(seconds=60) and d.attempts == 0 for d in held)
    assert all(d.outcome.startswith("held back until") for d in held)
    # A NEWS2 of 7 for the same nurse goes out at once, over the limit
    await open_high(store, at=T0 + timedelta(seconds=1))
    await fire(store, T0 + timedelta(seconds=1))
    [(urgent, _)] = await store.claim_deliveries(T0 + timedelta(seconds=1), lease_s=lease_s, rate=limit)
    assert urgent.priority is AlertPriority.HIGH and urgent.sent_at == T0 + timedelta(seconds=1)
    assert await store.claim_deliveries(T0 + timedelta(seconds=59), lease_s=lease_s, rate=limit) == []
    later = await store.claim_deliveries(T0 + timedelta(seconds=60), lease_s=lease_s, rate=limit)
    assert {d.delivery_id for d, _ in later} == {d.delivery_id for d in held}


async def test_alerts_raised_together_each_start_the_policy_of_their_own_site_and_priority(store: Store) -> None:
    """`raise_alerts` reads each site's policy once per transaction (a ward's devices fall silent together): alerts
    of two sites and two priorities in one call must still each follow their own site's policy for their priority."""
    await unit_with_roster(store)
    await store.upsert_site(Site("s2", "KAD", SiteKind.KAD))
    await store.upsert_ward(Ward("w2", "s2", "KAD-senger"))

    s1_medium, s2_medium = doctor_first("s1", AlertPriority.MEDIUM, 60), doctor_first("s2", AlertPriority.MEDIUM, 90)
    for policy in (s1_medium, s2_medium):
        await store.set_escalation_policy(policy, by="admin-1", at=T0)
    raised = [
        Alert(0, "pat-1", "w1", AlertKind.DEVICE_SILENT, AlertSeverity.LOW_MEDIUM, AlertState.OPEN, "m", T0, T0,
              device_id="mon-1"),
        Alert(0, "pat-2", "w2", AlertKind.DEVICE_SILENT, AlertSeverity.LOW_MEDIUM, AlertState.OPEN, "m", T0, T0,
              device_id="mon-2"),
        Alert(0, "pat-3", "w1", AlertKind.NEWS2, AlertSeverity.HIGH, AlertState.OPEN, "NEWS2 7", T0, T0),
        Alert(0, "pat-4", "w2", AlertKind.DEVICE_SILENT, AlertSeverity.LOW_MEDIUM, AlertState.OPEN, "m", T0, T0,
              device_id="mon-4"),
        # A home kit on no ward follows its device's site; one registered nowhere is shown on the page only.
        Alert(0, None, None, AlertKind.DEVICE_SILENT, AlertSeverity.LOW_MEDIUM, AlertState.OPEN, "m", T0, T0,
              device_id="kit-5"),
        Alert(0, None, None, AlertKind.DEVICE_SILENT, AlertSeverity.LOW_MEDIUM, AlertState.OPEN, "m", T0, T0,
              device_id="kit-unregistered"),
    ]  # fmt: skip
    await store.register_device(Device("kit-5", "s2", DeviceKind.HOME_KIT, "K2", T0))

    changes = await store.raise_alerts(raised)

    chains = [await store.get_escalation(change.alert.alert_id) for change in changes]
    assert [(c.site_id, c.policy) if c is not None else None for c in chains] == [
        ("s1", s1_medium),
        ("s2", s2_medium),
        ("s1", policy_for_kind(default_policy(AlertPriority.HIGH), AlertKind.NEWS2)),
        ("s2", s2_medium),
        ("s2", s2_medium),
        None,
    ]


class StatementCounter:
    """Counts the statements every SQLAlchemy engine sends (an executemany is one) while in its `with` block."""

    def __init__(self) -> None:
        self.sent = 0

    def _count(self, *_: object) -> None:
        self.sent += 1

    def __enter__(self) -> StatementCounter:
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *_: object) -> None:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", self._count)


def silent_monitors(monitors: range) -> list[Alert]:
    return [
        Alert(0, f"pat-{i}", "w1", AlertKind.DEVICE_SILENT, AlertSeverity.LOW_MEDIUM, AlertState.OPEN, "m", T0, T0,
              device_id=f"mon-{i}")
        for i in monitors
    ]  # fmt: skip


async def test_a_wards_outage_opens_each_alert_in_four_round_trips(store: Store) -> None:
    """A ward's monitors falling silent together open their alerts in one transaction: per alert its locked read,
    insert, history row and chain, while the ward's site and the site's policy are read once per transaction (they
    were read for every alert, and its chain looked for, though an alert just inserted has none)."""
    await unit_with_roster(store)

    async def statements_to_open(monitors: range) -> int:
        with StatementCounter() as counter:
            changes = await store.raise_alerts(silent_monitors(monitors))
        assert [change.phase for change in changes] == [AlertPhase.OPENED] * len(monitors)
        return counter.sent

    ten, thirty = await statements_to_open(range(10)), await statements_to_open(range(10, 40))
    assert thirty - ten == 4 * 20


async def test_a_burst_of_due_steps_fires_in_the_same_round_trips_however_many(store: Store) -> None:
    """A ward's outage makes every alert's first step due at once: a tick writes the chains it moved, their pages and
    their history rows together (they were 3 statements per chain)."""
    await unit_with_roster(store)
    opened = [c.alert.alert_id for c in await store.raise_alerts(silent_monitors(range(40)))]

    async def statements_to_fire(limit: int) -> int:
        with StatementCounter() as counter:
            fired = await store.fire_due_escalations(
                T0, lambda chain, alert, ctx, facts: fire_step(chain, alert, ctx, at=T0, facts=facts), limit=limit
            )
        assert len(fired) == limit
        return counter.sent

    assert await statements_to_fire(10) == await statements_to_fire(30)
    for alert_id in opened:
        [page] = await store.list_deliveries(alert_id)
        assert (page.person_id, page.state) == ("nurse-kari", DeliveryState.QUEUED)
        assert [h.phase for h in await store.alert_history(alert_id)] == [AlertPhase.OPENED, AlertPhase.ESCALATED]
        chain = await store.get_escalation(alert_id)
        assert chain is not None and chain.next_step_at is not None and chain.next_step_at > T0
    assert await fire(store, T0) == 0


async def test_a_wards_devices_coming_back_end_their_alerts_in_the_same_round_trips_however_many(store: Store) -> None:
    """The ward's network is back: every alert ends with its history row, its chain stopped and its queued pages
    cancelled, written together (they were 6 statements per alert)."""
    await unit_with_roster(store)
    opened = [c.alert.alert_id for c in await store.raise_alerts(silent_monitors(range(40)))]
    assert await fire(store, T0) == 40  # each pages the unit nurse: queued, not yet sent
    back = T0 + timedelta(minutes=5)

    async def statements_to_resolve(alert_ids: list[int]) -> int:
        with StatementCounter() as counter:
            changes = await store.resolve_alerts(alert_ids, at=back, by="system", reason="device reporting again")
        assert [(c.alert.alert_id, c.phase, c.alert.state) for c in changes] == [
            (i, AlertPhase.RESOLVED, AlertState.RESOLVED) for i in alert_ids
        ]
        return counter.sent

    ten, thirty = await statements_to_resolve(opened[:10]), await statements_to_resolve(opened[10:][::-1])
    assert thirty == ten
    for alert_id in opened:
        alert = await store.get_alert(alert_id)
        assert (alert.state, alert.resolved_at, alert.resolve_reason) == (
            AlertState.RESOLVED,
            back,
            "device reporting again",
        )
        assert [h.phase for h in await store.alert_history(alert_id)][-1] is AlertPhase.RESOLVED
        chain = await store.get_escalation(alert_id)
        assert chain is not None and (chain.stopped_at, chain.next_step_at) == (back, None)
        assert chain.stop_reason == "resolved by system"
        [page] = await store.list_deliveries(alert_id)
        assert (page.state, page.updated_at, page.outcome) == (DeliveryState.CANCELLED, back, "chain ended: resolved")
    again = await store.resolve_alerts(opened[:2], at=back + timedelta(minutes=1), by="system", reason="again")
    assert [(c.changed, c.alert.resolved_at) for c in again] == [(False, back), (False, back)]
    assert await fire(store, T0 + timedelta(hours=1)) == 0


async def test_resolving_stops_the_chain_with_the_policy_it_started_with(store: Store) -> None:
    """Stopping a chain reads neither its site nor its policy: the chain carries both, whatever changed since."""
    await unit_with_roster(store)
    alert_id = await open_high(store)
    await store.set_escalation_policy(doctor_first("s1", AlertPriority.HIGH), by="admin-1", at=T0)
    await store.resolve_alert(alert_id, at=T0 + timedelta(seconds=30), by="nurse-kari", reason="seen")

    chain = await store.get_escalation(alert_id)
    assert chain is not None
    assert chain.policy == policy_for_kind(default_policy(AlertPriority.HIGH), AlertKind.NEWS2)
    assert (chain.site_id, chain.next_step_at, chain.stopped_at) == ("s1", None, T0 + timedelta(seconds=30))
    assert chain.stop_reason == "resolved by nurse-kari"
