"""A programme of 500 patients at home, each with an open threshold breach: the coordinators' list holds them all,
most urgent first, on both engines. How fast that read is (the live worklist makes it every second per open page)
is bench/bench_worklist.py's to measure."""

from __future__ import annotations

from datetime import timedelta

from alerts.triage import worklist_order
from core.homecare import WorklistState
from core.store import Store
from core.thresholds import TriageColour
from tests.fixtures.home_programme import PROGRAMME_OPENED_AT, PROGRAMME_SITE, seed_breaching_programme

PATIENTS = 500


async def test_500_patients_items_are_listed_by_urgency(store: Store) -> None:
    await seed_breaching_programme(store, PATIENTS)

    listed = await store.worklist(PROGRAMME_SITE, states=[WorklistState.OPEN, WorklistState.CLAIMED])

    assert len(listed) == PATIENTS
    assert listed == sorted(listed, key=worklist_order)  # the store's order is the screen's
    assert [i.triage_colour for i in listed[:100]] == [TriageColour.RED] * 100  # every fifth patient is red
    assert listed[100].triage_colour is TriageColour.YELLOW
    assert listed[100].opened_at == PROGRAMME_OPENED_AT + timedelta(seconds=1)
