"""A team's outreach tasks as the store reads and changes them: the tasks of the patients asked for are chosen before
the limit (a former patient's pile of unanswered windows crowds out no current patient's task), and a task one member
has taken is refused to another; the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.errors import Conflict
from core.outreach import OutreachState
from core.store import Store
from tests.core.test_store_outreach import CHECKED, FACT, fire, home_patient

OPEN = [OutreachState.OPEN, OutreachState.TAKEN]


async def test_a_current_patients_task_is_read_whatever_a_former_patient_left_behind(store: Store) -> None:
    await home_patient(store, "p-gone", FACT)
    for day in range(4):  # four unanswered mornings (and the patient inactive): their tasks left open
        await fire(store, CHECKED + timedelta(days=day))
    await store.end_care_team_membership("p-gone", FACT.team_id, role=FACT.kind, at=CHECKED + timedelta(days=4))
    await home_patient(store, "p-now", FACT)
    await fire(store, CHECKED + timedelta(days=4))
    followed = await store.team_patients(FACT.team_id, at=CHECKED + timedelta(days=4))

    listed = await store.outreach_tasks(FACT.team_id, states=OPEN, patient_ids=followed, limit=2)

    assert followed == ["p-now"]
    assert [t.patient_id for t in listed] == ["p-now", "p-now"]  # the newest of the current patient's
    assert len(await store.outreach_tasks(FACT.team_id, states=OPEN)) > 2  # kept in the store, not on the list


async def test_a_task_another_member_has_taken_is_refused_and_its_holder_keeps_it(store: Store) -> None:
    await home_patient(store, "p-1", FACT)
    await fire(store, CHECKED)
    (task,) = await store.outreach_tasks(FACT.team_id, states=[OutreachState.OPEN])
    at = CHECKED + timedelta(minutes=5)

    await store.update_outreach_task(task.task_id, actor="nurse.ola", action="taken", at=at)
    with pytest.raises(Conflict, match=f"outreach task {task.task_id} is taken by nurse.ola"):
        await store.update_outreach_task(task.task_id, actor="nurse.kari", action="taken", at=at)
    again = await store.update_outreach_task(task.task_id, actor="nurse.ola", action="taken", at=at)
    handed = await store.update_outreach_task(
        task.task_id, actor="nurse.ola", action="assigned", at=at, assignee="nurse.kari"
    )

    assert (again.state, again.assignee) == (OutreachState.TAKEN, "nurse.ola")
    assert handed.assignee == "nurse.kari"
    _, history = await store.outreach_task(task.task_id)
    assert [(e.actor, e.action) for e in history] == [
        ("system", "opened"), ("nurse.ola", "taken"), ("nurse.ola", "assigned"),
    ]  # fmt: skip
