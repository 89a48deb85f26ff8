"""The specialist's list: every open alert in the units they cover (token and rotations), sorted, with escalation."""

from __future__ import annotations

from datetime import date, time

import httpx

from alerts.lifecycle import acknowledge
from alerts.timers import fire_due_timers
from core.escalation import ContactPoint, DeliveryState, WebhookEndpoint
from core.oncall import OnCallRole, Rotation
from core.store.sqlite import SqliteStore
from core.types import Role
from tests.dashboard_api.conftest import FixedClock, Seeded, TokenFactory, auth

ME_ALERTS = "/api/v1/me/alerts"


async def roster(store: SqliteStore, name: str, role: OnCallRole, site_id: str, person_id: str) -> None:
    rotation = Rotation(0, name, role, frozenset({site_id}), (time(8),), (person_id,), date(2025, 1, 1))
    await store.add_rotation(rotation)


async def test_a_specialist_sees_both_sites_alerts_high_first_with_where_and_why(
    api: httpx.AsyncClient, token: TokenFactory, seeded: Seeded, store: SqliteStore
) -> None:
    await roster(store, "Spesialist KAD", OnCallRole.HOSPITAL_SPECIALIST, "s2", "dr-spes")
    specialist = token(Role.SPECIALIST, ("s1", "s2"), "dr-spes")

    response = await api.get(ME_ALERTS, headers=auth(specialist))

    assert response.status_code == 200
    body = response.json()
    rows = [
        (
            r["alert"]["alert_id"],
            r["alert"]["priority"],
            r["site_name"],
            r["ward_name"],
            r["place"],
            r["alert"]["message"],
        )
        for r in body["alerts"]
    ]
    assert rows == [
        (seeded.other_alert_id, "high", "Annen kommune", "KAD", "1", "NEWS2 7"),
        (seeded.alert_id, "medium", "Demo sykestue", "Sykestua", "Seng 1", "NEWS2 5"),
    ]
    assert [r["patient"]["display_name"] for r in body["alerts"]] == ["Per Li", "Ola Nordmann"]
    assert [(u["ward_id"], u["via"]) for u in body["units"]] == [
        ("w2", ["token", "rotation Spesialist KAD (hospital_specialist)"]),
        ("w1", ["token"]),
    ]
    assert body["rostered_without_access"] == []


async def test_a_rotation_outside_the_token_is_named_but_its_alerts_are_not_shown(
    api: httpx.AsyncClient, token: TokenFactory, seeded: Seeded, store: SqliteStore
) -> None:
    await roster(store, "Spesialist KAD", OnCallRole.HOSPITAL_SPECIALIST, "s2", "dr-spes")

    response = await api.get(ME_ALERTS, headers=auth(token(Role.SPECIALIST, ("s1",), "dr-spes")))

    assert response.status_code == 200
    body = response.json()
    assert [r["alert"]["alert_id"] for r in body["alerts"]] == [seeded.alert_id]
    assert body["rostered_without_access"] == ["s2"]
    assert [u["ward_id"] for u in body["units"]] == ["w1"]


async def test_each_patient_shown_is_audited(
    api: httpx.AsyncClient, token: TokenFactory, seeded: Seeded, store: SqliteStore
) -> None:
    await api.get(ME_ALERTS, headers=auth(token(Role.SPECIALIST, ("s1", "s2"), "dr-spes")))
    entries = [a for a in await store.list_audit(limit=10) if a.action == "read.covered_alerts"]
    assert sorted((a.user_id, a.subject) for a in entries) == [("dr-spes", "p1"), ("dr-spes", "p3")]


async def test_roles_without_patient_data_and_callers_without_a_token_are_refused(
    api: httpx.AsyncClient, token: TokenFactory, seeded: Seeded
) -> None:
    refused = await api.get(ME_ALERTS, headers=auth(token(Role.TECHNICIAN, ("s1",), "tech-tor")))
    assert refused.status_code == 403
    assert refused.json()["detail"].startswith("Role technician may not do this")
    anonymous = await api.get(ME_ALERTS)
    assert anonymous.status_code == 401


async def test_the_escalation_state_says_who_was_notified_when_and_what_came_of_it(
    api: httpx.AsyncClient, token: TokenFactory, seeded: Seeded, store: SqliteStore, clock: FixedClock
) -> None:
    await store.upsert_webhook_endpoint(WebhookEndpoint("gw", "https://pager.example/hook", b"s" * 32, "gw"))
    await roster(store, "Sykepleier", OnCallRole.UNIT_NURSE, "s1", "nurse-kari")
    await store.set_contact_points("nurse-kari", [ContactPoint("nurse-kari", "gw", "pager-17")])
    await fire_due_timers(store, clock)  # 08:00 UTC is 09:00 in Oslo; the medium policy waits 10 min for the nurse

    async def state_of_ola() -> dict[str, object]:
        response = await api.get(ME_ALERTS, headers=auth(token()))
        [row] = response.json()["alerts"]
        escalation: dict[str, object] = row["escalation"]
        return escalation

    queued = await state_of_ola()
    assert queued["text"] == "Unit nurse nurse-kari notified 09:00, not yet delivered; next: doctor on call at 09:10"
    assert queued["status"] == "running"

    [delivery] = await store.list_deliveries(seeded.alert_id)
    await store.record_delivery(delivery.delivery_id, DeliveryState.DELIVERED, at=clock(), outcome="202")
    assert (await state_of_ola())["text"] == (
        "Unit nurse nurse-kari notified 09:00, not yet read; next: doctor on call at 09:10"
    )

    clock.advance(90)  # the nurse on the unit acknowledges on her own screen
    await store.update_alert_by_id(seeded.alert_id, lambda a: acknowledge(a, by="nurse-anne", at=clock()))
    stopped = await state_of_ola()
    assert (
        stopped["text"]
        == "Unit nurse nurse-kari notified 09:00, not yet read; stopped 09:01: acknowledged by nurse-anne"
    )
    assert stopped["status"] == "stopped"


async def test_the_ward_board_carries_each_alerts_escalation_state(
    api: httpx.AsyncClient, token: TokenFactory, seeded: Seeded
) -> None:
    board = await api.get("/api/v1/wards/w1", headers=auth(token()))
    [ola] = [bed for bed in board.json()["beds"] if bed["bed_id"] == "b1"]
    [escalation] = ola["escalations"]
    # Opened a moment ago: its first step (the unit's nurse) is due and no timer has fired it yet.
    assert (escalation["alert_id"], escalation["status"]) == (seeded.alert_id, "running")
    assert escalation["text"] == "Paging unit nurse now"
