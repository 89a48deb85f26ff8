"""The timer poll each worker runs (`run_alert_timers`): what it fired reaches the ward screens even when another
part of the same poll fails, and each part runs whatever another one does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.confirmation import apply_observed
from alerts.lifecycle import Observed, acknowledge
from alerts.timers import run_alert_timers
from core.errors import StorageUnavailable
from core.store import AlertChange
from core.store.sqlite import SqliteStore
from core.types import AlertKey, AlertKind, AlertPhase, AlertSeverity, Site, SiteKind, Ward

T0 = datetime(2025, 3, 3, 20, 0, tzinfo=UTC)
WAIT_S = 10.0


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "vaktrom.sqlite3")
    await store.open()
    await store.create_site(Site("sy", "Sykestua", SiteKind.SYKESTUE))
    await store.create_ward(Ward("sy-w", "sy", "Post 1"))
    yield store
    await store.close()


async def _acknowledged_high(store: SqliteStore) -> int:
    seen = Observed(AlertKey("p1", None, AlertKind.NEWS2), AlertSeverity.HIGH, "NEWS2 7", T0, "sy-w")
    change = await apply_observed(store, seen)
    assert change is not None
    await store.update_alert_by_id(change.alert.alert_id, lambda a: acknowledge(a, by="nurse-kari", at=T0))
    return change.alert.alert_id


async def _failing(*args: object, **kwargs: object) -> object:
    raise StorageUnavailable("sqlite", detail="disk I/O error")


async def _broken(*args: object, **kwargs: object) -> object:
    raise RuntimeError("a bug in this part of the poll")


@pytest.mark.parametrize(
    ("part", "failure"),
    [
        ("fire_due_digests", _failing),  # the daily summaries' table on a failing disk
        ("fire_due_plan_checks", _broken),  # a bug that fails every poll
        ("sync_alert_items", _broken),
    ],
)
async def test_a_re_notified_alert_is_announced_when_a_later_part_of_the_poll_fails(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch, part: str, failure: object
) -> None:
    alert_id = await _acknowledged_high(store)
    monkeypatch.setattr(store, part, failure)
    announced: list[tuple[int, AlertPhase | None]] = []
    heard = asyncio.Event()

    async def announce(change: AlertChange) -> None:
        announced.append((change.alert.alert_id, change.phase))
        heard.set()

    clock = lambda: T0 + timedelta(minutes=11)  # noqa: E731 - past the high re-notify interval (10 min)
    poll = asyncio.create_task(run_alert_timers(store, clock, announce, poll_s=0.05))
    try:
        async with asyncio.timeout(WAIT_S):
            await heard.wait()
    finally:
        poll.cancel()

    assert announced[0] == (alert_id, AlertPhase.RENOTIFIED)  # then its new chain's first step


async def test_the_worklist_keeps_following_alerts_when_the_daily_summaries_fail(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "fire_due_digests", _broken)
    synced = asyncio.Event()
    sync = store.sync_alert_items

    async def sync_alert_items(now: datetime) -> object:
        synced.set()
        return await sync(now)

    monkeypatch.setattr(store, "sync_alert_items", sync_alert_items)

    async def announce(change: AlertChange) -> None:
        return None

    poll = asyncio.create_task(run_alert_timers(store, lambda: T0, announce, poll_s=0.05))
    try:
        async with asyncio.timeout(WAIT_S):
            await synced.wait()
    finally:
        poll.cancel()
    assert synced.is_set()
