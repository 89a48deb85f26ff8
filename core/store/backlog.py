"""Due-work counts for monitoring: each timer table's partial index on its due column answers them cheaply."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from core.backlog import LATE_AFTER_S, TimerBacklog
from core.store import schema as s
from core.store.sql import SqlStore

__all__ = ["BacklogQueries"]


def _count_due(column: sa.Column[datetime], at: datetime) -> sa.ScalarSelect[int]:
    return sa.select(sa.func.count()).where(column.is_not(None), column <= at).scalar_subquery()


class BacklogQueries(SqlStore):
    async def timer_backlog(self, at: datetime) -> TimerBacklog:
        chains = s.alert_escalations.c
        late_before = at - timedelta(seconds=LATE_AFTER_S)
        due = sa.select(
            _count_due(chains.next_step_at, at).label("steps_due"),
            _count_due(chains.next_step_at, late_before).label("steps_late"),
            sa.select(sa.func.min(chains.next_step_at)).where(chains.next_step_at.is_not(None)).scalar_subquery(),
            _count_due(s.alerts.c.renotify_at, at).label("renotify"),
            _count_due(s.pending_alerts.c.due_at, at).label("confirm"),
            _count_due(s.digest_schedules.c.next_due_at, at).label("summaries"),
            _count_due(s.deliveries.c.next_attempt_at, at).label("deliveries"),
        )
        # Every delivery ever made, by state: one pass over a table of a few rows per alert step (~100k a year for a
        # busy municipality), so a scrape every 15 s costs milliseconds.
        by_state = sa.select(s.deliveries.c.state, sa.func.count()).group_by(s.deliveries.c.state)

        def read(conn: sa.Connection) -> TimerBacklog:
            row = conn.execute(due).one()
            states = {state: count for state, count in conn.execute(by_state)}
            return TimerBacklog(
                at=at,
                escalation_steps_due=row[0],
                escalation_steps_late=row[1],
                oldest_escalation_due_at=row[2],
                renotifications_due=row[3],
                confirmations_due=row[4],
                summaries_due=row[5],
                deliveries_due=row[6],
                deliveries_by_state=states,
            )

        return await self._read(read)
