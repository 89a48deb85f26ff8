"""Threshold breaches under any delivery order: whatever readings arrive, repeated or not, with closes in between,
a patient's measurement has at most one open item, its colour is the most urgent of its readings, and no reading
is on two items."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.triage import breach_items, most_urgent, triage
from core.homecare import WorklistState
from core.store.sqlite import SqliteStore
from core.types import Parameter, Reading
from tests.core.test_store_triage import AT, COPD, SPO2, home_patient

# A step: a reading (minute, SpO2 value) delivered, possibly again, or the coordinator closing what is open.
steps = st.lists(
    st.one_of(st.tuples(st.integers(0, 30), st.integers(80, 95)), st.just("close")), min_size=1, max_size=15
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
def test_one_open_item_per_measurement_whose_colour_is_its_most_urgent_reading(
    tmp_path: Path, steps: list[tuple[int, int] | str]
) -> None:
    async def scenario() -> list[tuple[WorklistState, object, list[tuple[object, float]]]]:
        store = SqliteStore(tmp_path / f"{uuid.uuid4().hex}.sqlite3")
        await store.open()
        try:
            await home_patient(store)
            for step in steps:
                if step == "close":
                    for item in await store.worklist("hjemme", states=[WorklistState.OPEN]):
                        await store.update_worklist_item(
                            item.item_id, actor="nurse-kari", action="closed", at=AT, text="ok", outcome="ok"
                        )
                    continue
                minute, value = step
                at = AT + timedelta(minutes=minute)
                reading = Reading("kit-1", "p-1", Parameter.SPO2, value, at, at)
                await store.open_or_raise_breaches(breach_items([reading], COPD, site_id="hjemme", at=at))
            items = await store.worklist("hjemme", states=list(WorklistState))
            return [(i.state, i.triage_colour, [(r.measured_at, r.value) for r in i.implicated]) for i in items]
        finally:
            await store.close()

    items = asyncio.run(scenario())

    assert sum(state is WorklistState.OPEN for state, _, _ in items) <= 1
    for _, colour, readings in items:
        assert colour is most_urgent([triage(value, SPO2.bands) for _, value in readings])
    on_items = [reading for _, _, readings in items for reading in readings]
    assert len(on_items) == len(set(on_items))  # a redelivered reading is on one item, once
