"""Two nurses charting one patient's withdrawal scales at the same instant: the alert ends as one order of the two
would leave it, never decided on a history that misses the other's assessment.

PostgreSQL only: SQLite has one writer, so nothing overlaps there. The severe score is saved by a second vaktrom
process (its own store, event loop and thread) that the test stops while it holds the alert, uncommitted, so the calm
score is saved exactly then.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from alerts.withdrawal import decide_withdrawal_alert
from core.store import Store
from core.store.postgres import PostgresStore
from core.store.protocols import AlertChange, AlertDecision, AlertUpdate
from core.types import Alert, AlertKey, AlertKind, AlertPriority, AlertState, CareSetting
from core.withdrawal import WithdrawalAssessment, WithdrawalHistory, WithdrawalScale
from scoring.withdrawal import SCALES
from tests.core.test_store_lock_order import WAIT_S, _waiting_or_done
from tests.core.test_store_withdrawal import _scored, add, cows, kad_patient

pytestmark = pytest.mark.integration


def _severe(assessment_id: str, scale: WithdrawalScale, *, hours: float) -> WithdrawalAssessment:
    return _scored(
        assessment_id, scale, {item.value: max(scores) for item, scores in SCALES[scale].items.items()}, hours=hours
    )


class _Held:
    """A second process's save that stops once it holds the patient's withdrawal alert, until released."""

    def __init__(self, dsn: str, assessment: WithdrawalAssessment) -> None:
        self._dsn = dsn
        self._assessment = assessment
        self.holding = threading.Event()
        self.release = threading.Event()

    def _decide(self, history: WithdrawalHistory) -> tuple[AlertKey, AlertDecision] | None:
        decided = decide_withdrawal_alert(self._assessment, ward_id="w1", setting=CareSetting.BEDSIDE)(history)
        if decided is None:
            return None
        key, decide_alert = decided

        def held(current: Alert | None) -> AlertUpdate | None:
            self.holding.set()  # the alert's row is locked and the assessment inserted, neither committed
            if not self.release.wait(WAIT_S):
                raise TimeoutError("the test never released the held save")
            return decide_alert(current)

        return key, held

    async def _save(self) -> AlertChange | None:
        store = PostgresStore(self._dsn)
        await store.open()
        try:
            return await store.add_withdrawal_assessment(self._assessment, self._decide)
        finally:
            await store.close()

    def run(self) -> AlertChange | None:
        return asyncio.run(self._save())


async def test_a_calm_score_saved_while_another_scale_is_saved_severe_leaves_the_alert_open(
    pg_store: Store, postgres_dsn: str
) -> None:
    await kad_patient(pg_store)
    await add(pg_store, _severe("a1", WithdrawalScale.COWS, hours=0))  # COWS 48: opens the high alert
    severe_alcohol = _Held(postgres_dsn, _severe("a2", WithdrawalScale.CIWA_AR, hours=1))

    saving = asyncio.create_task(asyncio.to_thread(severe_alcohol.run))
    assert await asyncio.to_thread(severe_alcohol.holding.wait, WAIT_S), "the severe CIWA-Ar never reached its alert"
    calm_opioid = asyncio.create_task(add(pg_store, cows("a3", pulse=2, restless=3, hours=1)))
    try:
        await _waiting_or_done(calm_opioid, postgres_dsn)  # it waits for the held save, wherever it does
    finally:
        severe_alcohol.release.set()
    await asyncio.wait_for(saving, WAIT_S)
    calm = await asyncio.wait_for(calm_opioid, WAIT_S)

    assert calm == (None, AlertPriority.HIGH), "the calm COWS is decided after the severe CIWA-Ar, which it sees"
    # Either order of the two keeps a high alert open: CIWA-Ar severe after COWS calm opens one again; before it,
    # it keeps this one open until CIWA-Ar is scored again.
    unresolved = await pg_store.list_alerts(patient_ids=["p1"], kinds=[AlertKind.WITHDRAWAL_RISING])
    assert [(a.state, a.priority) for a in unresolved] == [(AlertState.OPEN, AlertPriority.HIGH)], (
        "the calm COWS ended the alert on a history without the severe CIWA-Ar saved with it"
    )
    assert sorted(a.assessment_id for a in await pg_store.withdrawal_assessments("p1")) == ["a1", "a2", "a3"]
