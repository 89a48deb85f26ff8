"""The worklist as the store reads it: the most urgent first before any limit (a long backlog of missed windows never
hides a new red breach), the newest closures first, one owner per claimed item, and an escalation two items share
kept running until the last of them is closed; the same on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from alerts.triage import breach_items, worklist_order
from core.errors import Conflict
from core.homecare import VkpCode, WorklistItem, WorklistKind, WorklistState
from core.store import Store
from core.store.homecare import insert_worklist_item
from core.thresholds import MeasurementThresholds, ThresholdBand, ThresholdSet, TriageColour
from core.types import CareSetting, Parameter, Patient, Reading, Site, SiteKind, Stay, Ward

AT = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
OPEN = [WorklistState.OPEN, WorklistState.CLAIMED]
COPD = (
    MeasurementThresholds(
        Parameter.SPO2,
        (
            ThresholdBand(TriageColour.RED, None, 85),
            ThresholdBand(TriageColour.YELLOW, 85, 88),
            ThresholdBand(TriageColour.GREEN, 88, None),
        ),
    ),
)


async def programme(store: Store, patients: int) -> None:
    await store.upsert_site(Site("hjemme", "Hjemmeoppfølging", SiteKind.HOME_PROGRAMME))
    await store.upsert_ward(Ward("dho", "hjemme", "DHO"))
    for n in range(patients):
        await store.upsert_patient(Patient(f"p-{n}", f"Pasient {n}"))
        await store.add_stay(Stay(f"st-{n}", f"p-{n}", "dho", CareSetting.HOME, AT - timedelta(days=10)))


async def spo2(store: Store, patient_id: str, value: float, at: datetime) -> list[WorklistItem]:
    """A reading of `value` and the breach it opens (yellow below 88, red below 85)."""
    thresholds = ThresholdSet(patient_id, COPD, "KOLS", "dr", AT - timedelta(days=1))
    reading = Reading("kit", patient_id, Parameter.SPO2, value, at, at)
    return [
        c.item for c in await store.open_or_raise_breaches(breach_items([reading], thresholds, site_id="hjemme", at=at))
    ]


def item(kind: WorklistKind, colour: TriageColour | None, opened_at: datetime, patient_id: str) -> WorklistItem:
    parameter = Parameter.SPO2 if kind is WorklistKind.THRESHOLD_BREACH else None
    return WorklistItem(
        item_id=uuid.uuid4().hex, site_id="hjemme", patient_id=patient_id, kind=kind,
        vkp_code=VkpCode.MEASUREMENT_REPORTED, summary=f"{kind.value} {colour}", opened_at=opened_at,
        parameter=parameter, triage_colour=colour,
    )  # fmt: skip


async def test_the_store_reads_the_list_in_the_order_the_coordinator_sees_it_for_every_colour_and_kind(
    store: Store,
) -> None:
    await programme(store, 1)
    times = [AT - timedelta(minutes=m) for m in range(3)]
    every = [item(k, c, t, f"p-{n}") for n, (k, c, t) in enumerate(
        (k, c, t) for k in WorklistKind for c in (None, *TriageColour) for t in times
    )]  # fmt: skip
    random.Random(7).shuffle(every)
    for candidate in every:  # written as they are, whichever writer would make such an item
        await store._write(lambda c, i=candidate: insert_worklist_item(c, i))  # type: ignore[attr-defined]

    expected = [i.item_id for i in sorted(every, key=worklist_order)]
    assert [i.item_id for i in await store.worklist("hjemme", states=OPEN)] == expected
    assert [i.item_id for i in await store.worklist("hjemme", states=OPEN, limit=10)] == expected[:10]


async def test_a_new_red_breach_heads_a_worklist_longer_than_one_read(store: Store) -> None:
    await programme(store, 13)
    for n in range(12):  # a backlog of older yellow breaches, more than the read below takes
        await spo2(store, f"p-{n}", 87, AT + timedelta(minutes=n))
    (red,) = await spo2(store, "p-12", 82, AT + timedelta(hours=2))

    listed = await store.worklist("hjemme", states=OPEN, limit=5)

    assert [(i.item_id, i.triage_colour) for i in listed[:1]] == [(red.item_id, TriageColour.RED)]
    assert [i.patient_id for i in listed[1:]] == ["p-0", "p-1", "p-2", "p-3"]  # then the oldest yellow ones


async def test_the_closed_list_shows_the_latest_closures_first(store: Store) -> None:
    await programme(store, 4)
    opened = [(await spo2(store, f"p-{n}", 87, AT + timedelta(minutes=n)))[0] for n in range(4)]
    for minutes, closing in enumerate(opened[n] for n in (1, 3, 0, 2)):  # closed in another order than opened
        closed_at = AT + timedelta(hours=1, minutes=minutes)
        await store.update_worklist_item(closing.item_id, actor="coord.a", action="closed", at=closed_at, outcome="ok")

    listed = await store.worklist("hjemme", states=[WorklistState.CLOSED], limit=2)

    assert [i.patient_id for i in listed] == ["p-2", "p-0"]


async def test_an_item_another_coordinator_claimed_is_refused_and_its_owner_keeps_it(store: Store) -> None:
    await programme(store, 1)
    (breach,) = await spo2(store, "p-0", 82, AT)
    at = AT + timedelta(minutes=5)

    await store.update_worklist_item(breach.item_id, actor="coord.a", action="claimed", at=at)
    with pytest.raises(Conflict, match=f"worklist item {breach.item_id} is claimed by coord.a"):
        await store.update_worklist_item(breach.item_id, actor="coord.b", action="claimed", at=at)
    again = await store.update_worklist_item(breach.item_id, actor="coord.a", action="claimed", at=at)

    assert (again.state, again.owner) == (WorklistState.CLAIMED, "coord.a")
    _, history = await store.worklist_item(breach.item_id)
    assert [(e.actor, e.action) for e in history] == [("system", "opened"), ("coord.a", "claimed")]


async def test_an_item_assigned_to_a_coordinator_is_theirs_to_claim(store: Store) -> None:
    await programme(store, 1)
    (breach,) = await spo2(store, "p-0", 82, AT)
    at = AT + timedelta(minutes=5)
    await store.update_worklist_item(breach.item_id, actor="coord.a", action="claimed", at=at)
    await store.update_worklist_item(breach.item_id, actor="coord.a", action="assigned", at=at, text="coord.b")

    taken_over = await store.update_worklist_item(breach.item_id, actor="coord.b", action="claimed", at=at)

    assert (taken_over.owner, taken_over.assignee) == ("coord.b", "coord.b")


async def test_of_two_items_sharing_an_escalation_only_the_last_closed_releases_it(store: Store) -> None:
    await programme(store, 1)
    (spo2_item,) = await spo2(store, "p-0", 82, AT)
    alert_id = 42
    pulse_item = replace(item(WorklistKind.THRESHOLD_BREACH, TriageColour.YELLOW, AT, "p-0"), parameter=Parameter.PULSE)
    await store._write(lambda c: insert_worklist_item(c, pulse_item))  # type: ignore[attr-defined]
    for escalated in (spo2_item, pulse_item):
        await store.update_worklist_item(
            escalated.item_id, actor="coord.a", action="escalated", at=AT, alert_id=alert_id
        )

    first = await store.close_worklist_item(pulse_item.item_id, actor="coord.a", at=AT, outcome="ok", comment="ok")
    last = await store.close_worklist_item(spo2_item.item_id, actor="coord.a", at=AT, outcome="ok", comment="ok")
    (plain,) = await spo2(store, "p-0", 87, AT + timedelta(hours=1))
    unescalated = await store.close_worklist_item(plain.item_id, actor="coord.a", at=AT, outcome="ok", comment="ok")

    assert [(i.item_id, i.state, was_last) for i, was_last in (first, last)] == [
        (pulse_item.item_id, WorklistState.CLOSED, False),
        (spo2_item.item_id, WorklistState.CLOSED, True),
    ]
    assert unescalated[1] is False
