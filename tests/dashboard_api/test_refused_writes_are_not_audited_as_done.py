"""A change refused for what it asks (422) or for the state it finds (409) is not in the audit log as made: a plan that
cannot be followed writes no row (it is refused before the patient is looked up, as a malformed body is); a refused
worklist, outreach-task or alert change (acknowledge, resolve, a device alert's acknowledgement) is audited as
`denied.<action>`, saying why, naming the patient."""

from __future__ import annotations

import httpx
import pytest

from alerts.timers import fire_due_plan_checks
from core.homecare import ARRIVAL_GRACE_S
from core.store.sqlite import SqliteStore
from core.types import AlertKind, AlertSeverity, AuditEntry, Role
from tests.dashboard_api.conftest import NOW, FixedClock, Seeded, TokenFactory, auth
from tests.dashboard_api.test_routes_homecare import (
    PLAN,
    PLAN_PATH,
    WORKLIST_PATH,
    _coordinator,
    home_programme,  # noqa: F401 (a fixture)
)
from tests.dashboard_api.test_routes_team import TASKS, _member, task_id  # noqa: F401 (a fixture)


async def _rows(store: SqliteStore, subject: str) -> list[AuditEntry]:
    return [a for a in await store.list_audit(limit=50) if a.subject == subject]


async def test_a_plan_that_cannot_be_followed_is_not_audited_as_written(
    home_programme: httpx.AsyncClient,  # noqa: F811
    token: TokenFactory,
    store: SqliteStore,
) -> None:
    refused = await home_programme.put(
        PLAN_PATH, json=PLAN | {"timezone": "Europe/Tromso"}, headers=_coordinator(token)
    )

    assert refused.status_code == 422 and "timezone" in refused.json()["detail"]
    assert await _rows(store, "p4") == []


async def test_a_refused_worklist_change_is_audited_as_refused_saying_why(
    home_programme: httpx.AsyncClient,  # noqa: F811
    token: TokenFactory,
    store: SqliteStore,
    clock: FixedClock,
) -> None:
    await home_programme.put(PLAN_PATH, json=PLAN, headers=_coordinator(token))
    clock.advance(2 * 3600 + ARRIVAL_GRACE_S + 1)  # the 10:00 Oslo window closed unmeasured
    assert await fire_due_plan_checks(store, clock) == 1
    headers = _coordinator(token)
    (item,) = (await home_programme.get(WORKLIST_PATH, headers=headers)).json()
    path = f"/api/v1/worklist/{item['item_id']}"

    stranger = await home_programme.post(f"{path}/assign", json={"assignee": "ghost"}, headers=headers)
    closed = await home_programme.post(
        f"{path}/close", json={"outcome": "measured", "comment": "Målte 96 %"}, headers=headers
    )
    late = await home_programme.post(f"{path}/claim", headers=headers)

    assert (stranger.status_code, closed.status_code, late.status_code) == (422, 200, 409)
    rows = [(a.action, a.patient_id, a.grant, a.detail) for a in await _rows(store, item["item_id"])]
    assert ("denied.assign.worklist_item", "p4", "", stranger.json()["detail"]) in rows
    assert ("denied.claim.worklist_item", "p4", "", late.json()["detail"]) in rows
    assert ("close.worklist_item", "p4", "site:s3", "programme s3") in rows
    assert not {"assign.worklist_item", "claim.worklist_item"} & {action for action, *_ in rows}


async def test_a_refused_outreach_task_change_is_audited_as_refused_saying_why(
    api: httpx.AsyncClient,
    task_id: str,  # noqa: F811
    token: TokenFactory,
    store: SqliteStore,
) -> None:
    path = f"{TASKS}/{task_id}"
    stranger = await api.post(f"{path}/assign", json={"user_id": "nurse-anne"}, headers=_member(token))
    done = await api.post(f"{path}/done", json={"outcome": "reached", "note": "phoned"}, headers=_member(token))
    again = await api.post(f"{path}/done", json={"outcome": "reached", "note": "twice"}, headers=_member(token))

    assert (stranger.status_code, done.status_code, again.status_code) == (422, 200, 409)
    rows = [(a.action, a.patient_id, a.grant, a.detail) for a in await _rows(store, task_id)]
    assert ("denied.assign.team_task", "p2", "", stranger.json()["detail"]) in rows
    assert ("denied.done.team_task", "p2", "", again.json()["detail"]) in rows
    assert [action for action, *_ in rows].count("done.team_task") == 1
    assert "assign.team_task" not in [action for action, *_ in rows]


def _audited(rows: list[AuditEntry]) -> list[tuple[str, str | None, str | None, str]]:
    return [(a.action, a.patient_id, a.grant, a.detail) for a in reversed(rows)]  # oldest first


async def test_acknowledging_a_resolved_alert_is_audited_as_refused_saying_why(
    api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore, seeded: Seeded
) -> None:
    await store.resolve_alert(seeded.alert_id, at=NOW, by="dr-berg", reason="Reviewed")

    refused = await api.post(f"/api/v1/alerts/{seeded.alert_id}/ack", headers=auth(token()))

    assert (refused.status_code, refused.json()) == (
        409, {"detail": f"Alert {seeded.alert_id} is already resolved by dr-berg"}
    )  # fmt: skip
    assert _audited(await _rows(store, str(seeded.alert_id))) == [
        ("denied.ack.alert", "p1", "", f"Alert {seeded.alert_id} is already resolved by dr-berg")
    ]


async def test_resolving_a_resolved_alert_is_audited_as_refused_saying_why(
    api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore, seeded: Seeded
) -> None:
    await store.resolve_alert(seeded.alert_id, at=NOW, by="dr-berg", reason="Reviewed")

    refused = await api.post(
        f"/api/v1/alerts/{seeded.alert_id}/resolve", json={"reason": "probe off"}, headers=auth(token())
    )

    assert (refused.status_code, refused.json()) == (
        409, {"detail": f"Alert {seeded.alert_id} is already resolved by dr-berg"}
    )  # fmt: skip
    assert _audited(await _rows(store, str(seeded.alert_id))) == [
        ("denied.resolve.alert", "p1", "", f"Alert {seeded.alert_id} is already resolved by dr-berg")
    ]


@pytest.mark.integration
async def test_an_alert_acknowledged_then_resolved_is_audited_as_done_once_each_and_each_repeat_as_refused(
    live_api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore, seeded: Seeded
) -> None:
    path = f"/api/v1/alerts/{seeded.alert_id}"
    acked = await live_api.post(f"{path}/ack", headers=auth(token()))
    acked_again = await live_api.post(f"{path}/ack", headers=auth(token(Role.DOCTOR, user="dr-berg")))
    resolved = await live_api.post(f"{path}/resolve", json={"reason": "probe off"}, headers=auth(token()))
    resolved_again = await live_api.post(f"{path}/resolve", json={"reason": "twice"}, headers=auth(token()))

    assert [r.status_code for r in (acked, acked_again, resolved, resolved_again)] == [200, 409, 200, 409]
    assert _audited(await _rows(store, str(seeded.alert_id))) == [
        ("ack.alert", "p1", "site:s1", "patient p1"),
        ("denied.ack.alert", "p1", "", f"Alert {seeded.alert_id} is already acknowledged by nurse-anne"),
        ("resolve.alert", "p1", "site:s1", "patient p1"),
        ("denied.resolve.alert", "p1", "", f"Alert {seeded.alert_id} is already resolved by nurse-anne"),
    ]


@pytest.mark.integration
async def test_a_device_alert_acknowledged_twice_is_audited_as_done_once_and_then_as_refused(
    live_api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore
) -> None:
    raised = await store.raise_alert(patient_id="p1", device_id="mon-1", ward_id="w1", kind=AlertKind.DEVICE_SILENT,
                                     severity=AlertSeverity.LOW_MEDIUM, message="silent", at=NOW)  # fmt: skip
    alert_id = raised.alert.alert_id
    tech = auth(token(Role.TECHNICIAN, user="tech-tom"))
    acked = await live_api.post(f"/api/v1/devices/mon-1/alerts/{alert_id}/ack", headers=tech)
    again = await live_api.post(f"/api/v1/devices/mon-1/alerts/{alert_id}/ack", headers=tech)

    assert (acked.status_code, again.status_code) == (200, 409)
    assert again.json() == {"detail": f"Alert {alert_id} is already acknowledged by tech-tom"}
    assert _audited(await _rows(store, str(alert_id))) == [
        ("ack.device_alert", "p1", "role:technician", "device mon-1"),
        ("denied.ack.device_alert", "p1", "", f"Alert {alert_id} is already acknowledged by tech-tom"),
    ]
