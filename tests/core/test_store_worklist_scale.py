"""A programme of 500 patients at home, each with an open threshold breach: the coordinators' list (and the live
worklist's poll, which reads it every second per open page) reads and orders all 500 well within that second, on
both engines."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from alerts.triage import breach_items, worklist_order
from core.homecare import WorklistState
from core.store import Store
from core.thresholds import MeasurementThresholds, ThresholdBand, ThresholdSet, TriageColour
from core.types import CareSetting, Parameter, Patient, Reading, Site, SiteKind, Stay, Ward

AT = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
PATIENTS = 500
# The live worklist polls once a second (dashboard_api/ws_worklist.WORKLIST_POLL_S): a read must leave most of it.
LIST_BUDGET_S = 0.25
BANDS = (
    ThresholdBand(TriageColour.RED, None, 85),
    ThresholdBand(TriageColour.YELLOW, 85, 88),
    ThresholdBand(TriageColour.GREEN, 88, None),
)


async def test_500_patients_items_are_listed_by_urgency_within_a_quarter_second(store: Store) -> None:
    await store.upsert_site(Site("hjemme", "Hjemmeoppfølging", SiteKind.HOME_PROGRAMME))
    await store.upsert_ward(Ward("dho", "hjemme", "DHO"))
    items = []
    for n in range(PATIENTS):
        patient_id = f"p-{n:03d}"
        await store.upsert_patient(Patient(patient_id, f"Pasient {n}"))
        await store.add_stay(Stay(f"st-{n}", patient_id, "dho", CareSetting.HOME, AT - timedelta(days=10)))
        thresholds = ThresholdSet(patient_id, (MeasurementThresholds(Parameter.SPO2, BANDS),), "KOLS", "dr", AT)
        at = AT + timedelta(seconds=n)
        reading = Reading("kit", patient_id, Parameter.SPO2, 84 if n % 5 == 0 else 86, at, at)
        items += breach_items([reading], thresholds, site_id="hjemme", at=at)
    await store.open_or_raise_breaches(items)

    started = time.perf_counter()
    listed = sorted(
        await store.worklist("hjemme", states=[WorklistState.OPEN, WorklistState.CLAIMED]), key=worklist_order
    )
    elapsed_s = time.perf_counter() - started

    assert len(listed) == PATIENTS
    assert [i.triage_colour for i in listed[:100]] == [TriageColour.RED] * 100  # every fifth patient is red
    assert listed[100].triage_colour is TriageColour.YELLOW and listed[100].opened_at == AT + timedelta(seconds=1)
    assert elapsed_s < LIST_BUDGET_S, f"listing {PATIENTS} items took {elapsed_s * 1000:.0f} ms"
