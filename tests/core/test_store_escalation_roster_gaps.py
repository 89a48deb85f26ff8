"""Roster gaps: an alert raised while nobody of its chain can be paged keeps trying until somebody can, on a fake
clock with the timer poll every worker runs, against the real store (docs/ALERTS.md, "Escalation")."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts import lifecycle
from alerts.escalation import fire_step
from alerts.timers import fire_due_timers
from core.alert_facts import AlertFacts
from core.escalation import (
    ContactPoint,
    DeliveryPurpose,
    DeliveryState,
    Escalation,
    OnCallContext,
    StepFiring,
    WebhookEndpoint,
    chain_after,
    default_policy,
)
from core.oncall import OnCallRole, Rotation
from core.store import Store
from core.store.protocols import StepDecision
from core.store.sqlite import SqliteStore
from core.types import Alert, AlertKind, AlertPhase, AlertPriority, AlertSeverity, AlertState, Site, SiteKind, Ward
from tests.core.conftest import StoreFactory

T0 = datetime(2025, 1, 6, 20, 0, tzinfo=UTC)  # 21:00 in Oslo, a Monday evening in winter (UTC+1)
GAP_ENDS = T0 + timedelta(minutes=30)
# docs/ALERTS.md: a round that reached nobody is tried again 5 min after it; each step of it fires on the next poll.
RETRY = timedelta(minutes=5)
POLL = timedelta(seconds=1)
OSLO = ZoneInfo("Europe/Oslo")
NURSE, DOCTOR, SPECIALIST = OnCallRole.UNIT_NURSE, OnCallRole.DOCTOR_ON_CALL, OnCallRole.HOSPITAL_SPECIALIST
Event = tuple[datetime, Callable[[], Awaitable[None]]]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


async def unit(store: Store) -> None:
    await store.upsert_site(Site("s1", "Sykestua", SiteKind.SYKESTUE))
    await store.upsert_ward(Ward("w1", "s1", "Senger"))
    await store.upsert_webhook_endpoint(WebhookEndpoint("gw", "http://127.0.0.1:9/hook", b"secret", "pager gateway"))


async def on_call(store: Store, role: OnCallRole, person: str, *, from_: datetime | None = None) -> None:
    """`person` on call in `role` at s1 around the clock: since New Year, or from `from_` (nobody before it)."""
    first = (from_ or datetime(2025, 1, 1, 7, 0, tzinfo=UTC)).astimezone(OSLO)
    rotation = Rotation(0, f"{role.value} s1", role, frozenset({"s1"}), (first.time(),), (person,), first.date())
    await store.add_rotation(rotation)


async def pager(store: Store, person: str) -> None:
    await store.set_contact_points(person, [ContactPoint(person, "gw", f"pager-{person}")])


async def open_alert(store: Store, severity: AlertSeverity = AlertSeverity.HIGH) -> int:
    change = await store.raise_alert(
        patient_id="pat-1", device_id=None, ward_id="w1", kind=AlertKind.NEWS2, severity=severity,
        message=f"NEWS2 {int(severity)}", at=T0,
    )  # fmt: skip
    return change.alert.alert_id


async def run_polls(
    store: Store, clock: Clock, alert_id: int, *, until: datetime, events: Sequence[Event] = ()
) -> None:
    """The timer poll, once a second, from clock.now until `until`, skipping the seconds in which nothing is due;
    each event runs at its time, before that second's poll."""
    pending = sorted(events, key=lambda event: event[0])
    while True:
        while pending and pending[0][0] <= clock.now:
            await pending.pop(0)[1]()
        await fire_due_timers(store, clock)
        if clock.now >= until:
            return
        chain = await store.get_escalation(alert_id)
        wake = [at for at, _ in pending]
        if chain is not None and chain.next_step_at is not None:
            wake.append(chain.next_step_at)
        clock.now = min(until, max(clock.now + POLL, min(wake, default=until)))


async def pages(store: Store, alert_id: int) -> list[tuple[str, datetime]]:
    """(person, when) of every page a responder was sent for the alert."""
    return [
        (d.person_id, d.created_at)
        for d in await store.list_deliveries(alert_id)
        if d.purpose is DeliveryPurpose.RESPOND and d.state is DeliveryState.QUEUED
    ]


async def nobody_on_call_until_the_gap_ends(store: Store) -> None:
    await on_call(store, NURSE, "nurse-kari", from_=GAP_ENDS)
    await pager(store, "nurse-kari")


async def nurse_without_a_pager_until_the_gap_ends(store: Store) -> None:
    await on_call(store, NURSE, "nurse-kari")


async def her_pager_registered(store: Store) -> None:
    await pager(store, "nurse-kari")


async def nothing(store: Store) -> None:
    pass


# The history row of the first round's last step: its steps fired one a poll from 20:00:00, the next round 5 min on.
HIGH_ROUND_ENDS = (
    "step 3/3, round 1; notified nobody; nobody on call as hospital_specialist for s1; "
    "nobody reached in round 1; trying again at 20:05:02 UTC"
)
MEDIUM_ROUND_ENDS = (
    "step 2/2, round 1; notified nobody; nobody on call as doctor_on_call for s1; "
    "nobody reached in round 1; trying again at 20:05:01 UTC"
)


@pytest.mark.parametrize(
    ("severity", "gap", "at_gap_end", "pages_for_her", "end_of_first_round"),
    [
        (AlertSeverity.HIGH, nobody_on_call_until_the_gap_ends, nothing, 2, HIGH_ROUND_ENDS),
        (AlertSeverity.HIGH, nurse_without_a_pager_until_the_gap_ends, her_pager_registered, 2, HIGH_ROUND_ENDS),
        (AlertSeverity.MEDIUM, nobody_on_call_until_the_gap_ends, nothing, 1, MEDIUM_ROUND_ENDS),
        (AlertSeverity.MEDIUM, nurse_without_a_pager_until_the_gap_ends, her_pager_registered, 1, MEDIUM_ROUND_ENDS),
    ],
    ids=["high-nobody-on-call", "high-no-pager", "medium-nobody-on-call", "medium-no-pager"],
)
async def test_an_alert_raised_during_a_roster_gap_pages_the_first_nurse_on_shift_after_it(
    store: Store,
    severity: AlertSeverity,
    gap: Callable[[Store], Awaitable[None]],
    at_gap_end: Callable[[Store], Awaitable[None]],
    pages_for_her: int,
    end_of_first_round: str,
) -> None:
    await unit(store)
    await gap(store)
    alert_id = await open_alert(store, severity)
    clock = Clock()

    await run_polls(
        store, clock, alert_id, until=T0 + timedelta(hours=1), events=[(GAP_ENDS, lambda: at_gap_end(store))]
    )

    paged = await pages(store, alert_id)
    # Paged within 5 min of coming on (and a poll per step), then the policy's own rounds: one more for high.
    assert [who for who, _ in paged] == ["nurse-kari"] * pages_for_her
    assert GAP_ENDS <= paged[0][1] <= GAP_ENDS + RETRY + 3 * POLL
    history = await store.alert_history(alert_id)
    assert end_of_first_round in [h.reason for h in history]
    gap_rows = [h for h in history if h.phase is AlertPhase.ESCALATED and h.at < GAP_ENDS]
    assert all("notified nobody" in h.reason for h in gap_rows)
    assert (await store.get_alert(alert_id)).state is AlertState.OPEN  # nobody has acknowledged it yet
    chain = await store.get_escalation(alert_id)
    assert chain is not None and not chain.running and chain.stop_reason.startswith("every step fired")


async def test_rounds_that_reach_nobody_are_tried_again_every_5_min_not_all_at_once(store: Store) -> None:
    await unit(store)
    alert_id = await open_alert(store)
    clock = Clock()

    await run_polls(store, clock, alert_id, until=T0 + timedelta(minutes=16))

    fired = [(h.at - T0, h.reason.split(";")[0]) for h in await store.alert_history(alert_id)][1:]
    assert fired == [
        (timedelta(seconds=s + r * 302), f"step {step}/3, round {r + 1}") for r in range(4) for s, step in
        ((0, 1), (1, 2), (2, 3))
    ]  # fmt: skip
    chain = await store.get_escalation(alert_id)
    assert chain is not None and chain.running and chain.next_step_at == T0 + timedelta(seconds=4 * 302)


async def test_an_alert_acknowledged_during_the_gap_stops_trying(store: Store) -> None:
    await unit(store)
    alert_id = await open_alert(store)
    clock = Clock()
    seen_at = T0 + timedelta(minutes=12)

    async def acknowledged_at_the_ward_screen() -> None:
        await store.update_alert_by_id(alert_id, lambda a: lifecycle.acknowledge(a, by="nurse-ola", at=seen_at))

    # Until just before the high re-notify interval (10 min) would open it again with a new chain.
    until = seen_at + timedelta(minutes=9)
    await run_polls(store, clock, alert_id, until=until, events=[(seen_at, acknowledged_at_the_ward_screen)])

    history = await store.alert_history(alert_id)
    assert [h.reason for h in history if h.phase is AlertPhase.ESCALATED and h.at >= seen_at] == []
    assert history[-1].phase is AlertPhase.ACKNOWLEDGED
    chain = await store.get_escalation(alert_id)
    assert chain is not None and not chain.running and chain.stop_reason == "acknowledged by nurse-ola"


async def test_with_everyone_on_call_the_high_chain_runs_its_two_rounds_as_before(store: Store) -> None:
    await unit(store)
    for role, person in ((NURSE, "nurse-kari"), (DOCTOR, "dr-lund"), (SPECIALIST, "dr-hansen")):
        await on_call(store, role, person)
        await pager(store, person)
    alert_id = await open_alert(store)

    await run_polls(store, Clock(), alert_id, until=T0 + timedelta(hours=2))

    minutes = [(who, (at - T0) / timedelta(minutes=1)) for who, at in await pages(store, alert_id)]
    assert minutes == [("nurse-kari", 0), ("dr-lund", 3), ("dr-hansen", 8), ("nurse-kari", 18), ("dr-lund", 21),
                       ("dr-hansen", 26)]  # fmt: skip
    chain = await store.get_escalation(alert_id)
    assert chain is not None and chain.stop_reason == "every step fired (2 rounds)"


async def test_the_nurse_on_after_the_gap_gets_the_policys_rounds_across_a_restart(open_store: StoreFactory) -> None:
    before = await open_store()
    await unit(before)
    await nobody_on_call_until_the_gap_ends(before)
    alert_id = await open_alert(before)
    clock = Clock()
    while not await pages(before, alert_id) and clock.now < T0 + timedelta(hours=1):  # her second page: 3 min later
        await run_polls(before, clock, alert_id, until=clock.now + timedelta(minutes=1))
    [(_, first_page)] = await pages(before, alert_id)

    after = await open_store()  # another worker, or the same one restarted: it knows only what the database says
    await run_polls(after, clock, alert_id, until=T0 + timedelta(hours=2))

    paged = await pages(after, alert_id)
    assert [who for who, _ in paged] == ["nurse-kari", "nurse-kari"]
    # Her 3 min, then the doctor's and specialist's steps reach nobody and the round is over: the high policy's
    # second round pages her again at once, as it does with nobody missing.
    assert first_page + timedelta(minutes=3) <= paged[1][1] <= first_page + timedelta(minutes=3) + 3 * POLL


async def test_a_specialist_who_declines_after_the_gap_fetches_the_next_round_at_once(store: Store) -> None:
    await unit(store)
    await on_call(store, SPECIALIST, "dr-hansen", from_=GAP_ENDS)
    await pager(store, "dr-hansen")
    alert_id = await open_alert(store)
    clock = Clock()
    await run_polls(store, clock, alert_id, until=GAP_ENDS + RETRY + 3 * POLL)
    [page] = [d for d in await store.list_deliveries(alert_id) if d.person_id == "dr-hansen"]

    declined_at = page.created_at + timedelta(seconds=20)
    await store.record_delivery(page.delivery_id, DeliveryState.DECLINED, at=declined_at, answered_by="dr-hansen")

    chain = await store.get_escalation(alert_id)
    assert chain is not None and chain.running
    assert (chain.loop, chain.step_index, chain.next_step_at) == (page.loop + 1, 0, declined_at)


def test_a_chain_that_never_reaches_anybody_stops_before_its_round_count_overflows() -> None:
    alert = Alert(7, "pat-1", "w1", AlertKind.NEWS2, AlertSeverity.HIGH, AlertState.OPEN, "NEWS2 7", T0, T0)
    started = chain_after(
        AlertPhase.OPENED, alert, None, policy=default_policy(AlertPriority.HIGH), site_id="s1", at=T0
    )
    assert started is not None
    last = replace(started, loop=32_766, step_index=len(started.policy.steps) - 1)  # `loop` is a SMALLINT column
    firing = fire_step(last, alert, OnCallContext((), (), {}), at=T0)
    assert not firing.escalation.running
    assert firing.escalation.stop_reason == "every step fired (32767 rounds: the most a chain counts)"


# --- properties over random roster gaps -----------------------------------------------------------------------
# Per role of the chain: the minute its person comes on (None: not tonight) and whether they have a pager.
shifts = st.tuples(st.one_of(st.none(), st.integers(0, 50)), st.booleans())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(nurse=shifts, doctor=shifts, specialist=shifts, high=st.booleans())
def test_whatever_the_gaps_an_open_alert_is_retried_and_the_first_person_on_is_paged_within_5_min(
    tmp_path: Path,
    nurse: tuple[int | None, bool],
    doctor: tuple[int | None, bool],
    specialist: tuple[int | None, bool],
    high: bool,
) -> None:
    """Every worker draining every due step at each instant: no step fires twice at one instant (a round that
    reached nobody is not run again at once), an open alert nobody has been paged for always has a next try ahead,
    and whoever of the chain's roles comes on with a pager first is paged within 5 min of it."""
    roster = {NURSE: nurse, DOCTOR: doctor, SPECIALIST: specialist}

    async def scenario() -> None:
        store = SqliteStore(tmp_path / f"{uuid.uuid4().hex}.sqlite3")
        await store.open()
        try:
            await unit(store)
            for role, (minute, reachable) in roster.items():
                if minute is not None:
                    await on_call(store, role, f"{role.value}-1", from_=T0 + timedelta(minutes=minute))
                    if reachable:
                        await pager(store, f"{role.value}-1")
            alert_id = await open_alert(store, AlertSeverity.HIGH if high else AlertSeverity.MEDIUM)
            await drain_for_an_hour(store, alert_id)
            # The default policies: high fetches all three roles, medium the nurse and the doctor.
            chain_roles = (NURSE, DOCTOR, SPECIALIST) if high else (NURSE, DOCTOR)
            on = [minute for role, (minute, ok) in roster.items() if role in chain_roles and minute is not None and ok]
            first_on = min(on, default=None)
            paged = await pages(store, alert_id)
            if first_on is None:
                assert paged == []
            else:
                assert paged and paged[0][1] <= T0 + timedelta(minutes=first_on) + RETRY
        finally:
            await store.close()

    asyncio.run(scenario())


async def drain_for_an_hour(store: Store, alert_id: int) -> None:
    """Fire every due step at each instant until none is (as if every worker polled at once), then the next due."""
    now = T0
    while now <= T0 + timedelta(hours=1):
        steps: list[int] = []
        while await store.fire_due_escalations(now, _recording(steps, at=now)):
            pass
        assert len(steps) == len(set(steps)), f"a step fired twice at {now:%H:%M:%S}: {steps}"
        chain = await store.get_escalation(alert_id)
        assert chain is not None
        if not await pages(store, alert_id):
            assert chain.running and chain.next_step_at is not None and chain.next_step_at > now
        if chain.next_step_at is None:
            return
        now = chain.next_step_at


def _recording(steps: list[int], *, at: datetime) -> StepDecision:
    """fire_step at `at`, noting in `steps` which step of its round each chain fired."""

    def decide(chain: Escalation, alert: Alert, ctx: OnCallContext, facts: AlertFacts) -> StepFiring:
        steps.append(chain.step_index)
        return fire_step(chain, alert, ctx, at=at, facts=facts)

    return decide
