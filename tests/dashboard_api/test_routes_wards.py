"""Sites, wards, the ward board and alerts, as a nurse of site s1 sees them."""

from __future__ import annotations

import httpx
import pytest

from alerts.lifecycle import acknowledge
from core.store.sqlite import SqliteStore
from core.types import AlertState, Role
from dashboard_api.pages import home_page
from tests.dashboard_api.conftest import NOW, Seeded, TokenFactory, auth

CLINICAL_PAGES = [
    {"path": "/", "title": "Ward"},
    {"path": "/alerts", "title": "Alerts I cover"},
    {"path": "/worklist", "title": "Worklist"},
    {"path": "/team", "title": "Team board"},
]
DEVICE_PAGES = [{"path": "/devices", "title": "Devices"}]


async def test_me_shows_who_the_token_names_and_the_pages_it_may_use(
    api: httpx.AsyncClient, token: TokenFactory
) -> None:
    response = await api.get("/api/v1/me", headers=auth(token(Role.NURSE, ("s1",))))
    assert response.status_code == 200
    assert response.json() == {"user_id": "nurse-anne", "role": "nurse", "site_ids": ["s1"], "pages": CLINICAL_PAGES}


@pytest.mark.parametrize(
    ("role", "pages"),
    [
        (Role.NURSE, CLINICAL_PAGES),
        (Role.DOCTOR, CLINICAL_PAGES),
        (Role.SPECIALIST, CLINICAL_PAGES),
        (Role.COORDINATOR, CLINICAL_PAGES),
        (Role.TECHNICIAN, DEVICE_PAGES),
        (Role.ADMIN, DEVICE_PAGES),
    ],
)
async def test_each_page_me_offers_is_one_whose_data_the_role_may_read(
    api: httpx.AsyncClient, token: TokenFactory, role: Role, pages: list[dict[str, str]]
) -> None:
    """The top bar offers a page only when the page's first call succeeds for the role, and every page whose first
    call succeeds: a technician is not sent to a ward board they would be refused, nor a nurse to the devices."""
    bearer = auth(token(role, ("s1",)))
    first_call = {
        "/": "/api/v1/wards/w1",
        "/alerts": "/api/v1/me/alerts",
        "/worklist": "/api/v1/sites/s1/worklist",
        "/team": "/api/v1/teams",
        "/devices": "/api/v1/devices?site_id=s1",
    }
    offered = (await api.get("/api/v1/me", headers=bearer)).json()["pages"]
    allowed = [path for path, call in first_call.items() if (await api.get(call, headers=bearer)).status_code == 200]

    assert offered == pages
    assert [page["path"] for page in offered] == allowed
    assert home_page(role) in allowed  # a login link never opens a page the role is refused


async def test_sites_lists_only_the_sites_of_the_token(api: httpx.AsyncClient, token: TokenFactory) -> None:
    response = await api.get("/api/v1/sites", headers=auth(token(Role.NURSE, ("s1",))))
    assert response.status_code == 200
    assert response.json() == [{"site_id": "s1", "name": "Demo sykestue", "kind": "sykestue"}]
    admin = await api.get("/api/v1/sites", headers=auth(token(Role.ADMIN, ("*",), user="root")))
    assert [s["site_id"] for s in admin.json()] == ["s1", "s2"]


async def test_wards_of_a_site(api: httpx.AsyncClient, token: TokenFactory) -> None:
    response = await api.get("/api/v1/sites/s1/wards", headers=auth(token()))
    assert response.status_code == 200
    assert response.json() == [{"ward_id": "w1", "site_id": "s1", "name": "Sykestua"}]


async def test_ward_board_shows_each_bed_with_patient_vitals_score_alerts_and_devices(
    api: httpx.AsyncClient, token: TokenFactory, seeded: Seeded, store: SqliteStore
) -> None:
    response = await api.get("/api/v1/wards/w1", headers=auth(token()))
    assert response.status_code == 200
    board = response.json()
    assert board["ward"] == {"ward_id": "w1", "site_id": "s1", "name": "Sykestua"}
    assert [(b["label"], b["patient"] and b["patient"]["display_name"]) for b in board["beds"]] == [
        ("Seng 1", "Ola Nordmann"),
        ("Seng 2", None),
        ("Seng 10", None),
        ("Home", "Kari Hansen"),
    ]
    ola = board["beds"][0]
    assert ola["bed_id"] == "b1" and ola["setting"] == "bedside" and ola["stay_id"] == "st1"
    vitals = {v["parameter"]: (v["value"], v["age_s"]) for v in ola["vitals"]}
    assert vitals == {"pulse": (112.0, 30.0), "spo2": (93.0, 30.0), "resp_rate": (22.0, 7230.0)}
    assert ola["news2"]["total"] == 5 and ola["news2"]["complete"] is False
    assert ola["news2"]["risk"] == "medium" and ola["news2"]["missing"] == ["temperature"]
    assert ola["risk"]["level"] == "raised" and ola["risk"]["probability"] == 0.42
    assert [(a["alert_id"], a["state"], a["message"]) for a in ola["alerts"]] == [(seeded.alert_id, "open", "NEWS2 5")]
    assert [(d["device_id"], d["online"], d["battery_percent"]) for d in ola["devices"]] == [("mon-1", True, 80.0)]
    assert board["beds"][1]["vitals"] == [] and board["beds"][1]["news2"] is None
    kari = board["beds"][3]
    assert kari["bed_id"] is None and kari["setting"] == "home"
    audit = await store.list_audit(limit=5)  # a row per patient on the board, newest first
    assert [(a.user_id, a.role, a.action, a.subject, a.patient_id, a.grant) for a in audit] == [
        ("nurse-anne", Role.NURSE, "read.ward", "w1", "p2", "site:s1"),
        ("nurse-anne", Role.NURSE, "read.ward", "w1", "p1", "site:s1"),
    ]


async def test_unknown_ward_is_404(api: httpx.AsyncClient, token: TokenFactory) -> None:
    response = await api.get("/api/v1/wards/nope", headers=auth(token()))
    assert response.status_code == 404
    assert response.json() == {"detail": "Ward nope not found"}


async def test_a_denied_ward_read_is_audited(api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore) -> None:
    response = await api.get("/api/v1/wards/w2", headers=auth(token(Role.DOCTOR, ("s1",), user="dr-berg")))
    assert (response.status_code, response.json()) == (404, {"detail": "Ward w2 not found"})  # as an unknown one
    [entry] = await store.list_audit(limit=5)  # a row per patient on the ward: Per, in b21
    assert (entry.user_id, entry.action, entry.subject, entry.detail) == (
        "dr-berg",
        "denied.read.ward",
        "w2",
        "site s2",
    )
    assert (entry.patient_id, entry.grant) == ("p3", "")


async def test_alerts_of_a_ward_by_state(
    api: httpx.AsyncClient, token: TokenFactory, seeded: Seeded, store: SqliteStore
) -> None:
    response = await api.get("/api/v1/alerts", params={"ward_id": "w1"}, headers=auth(token()))
    assert response.status_code == 200
    [alert] = response.json()
    assert alert["alert_id"] == seeded.alert_id and alert["patient_id"] == "p1"
    assert (alert["kind"], alert["severity"], alert["severity_name"], alert["state"]) == ("news2", 2, "medium", "open")
    resolved = await api.get("/api/v1/alerts", params={"ward_id": "w1", "state": "resolved"}, headers=auth(token()))
    assert resolved.status_code == 200 and resolved.json() == []
    audit = await store.list_audit(limit=5)
    assert [(a.action, a.subject, a.detail) for a in audit] == [
        ("read.alerts", "w1", "0 alerts"),
        ("read.alerts", "w1", "1 alerts"),
    ]


async def test_alerts_need_a_ward(api: httpx.AsyncClient, token: TokenFactory) -> None:
    response = await api.get("/api/v1/alerts", headers=auth(token()))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "ward_id"]


async def test_acknowledging_a_missing_alert_is_404(api: httpx.AsyncClient, token: TokenFactory) -> None:
    response = await api.post("/api/v1/alerts/999/ack", headers=auth(token()))
    assert response.status_code == 404
    assert response.json() == {"detail": "Alert 999 not found"}


async def test_acknowledging_an_acknowledged_alert_is_409(
    api: httpx.AsyncClient, token: TokenFactory, seeded: Seeded, store: SqliteStore
) -> None:
    await store.update_alert_by_id(seeded.alert_id, lambda a: acknowledge(a, by="nurse-bea", at=NOW))
    response = await api.post(f"/api/v1/alerts/{seeded.alert_id}/ack", headers=auth(token()))
    assert response.status_code == 409
    assert response.json() == {"detail": f"Alert {seeded.alert_id} is already acknowledged by nurse-bea"}
    alert = await store.get_alert(seeded.alert_id)
    assert (alert.state, alert.acknowledged_by) == (AlertState.ACKNOWLEDGED, "nurse-bea")
