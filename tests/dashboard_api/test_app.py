"""Probes, the page, and what create_app refuses."""

from __future__ import annotations

import httpx
import pytest

from core.errors import StorageConflict
from core.store.sqlite import SqliteStore
from core.types import AlertState
from dashboard_api.app import CONFLICT_RETRY_AFTER_S, STORE_RETRY_AFTER_S, create_app
from dashboard_api.live import LiveHub
from tests.dashboard_api.conftest import NOW, Seeded, TokenFactory, api_on_own_postgres, auth, offline_client


async def test_healthz_answers_without_a_token_and_without_data(api: httpx.AsyncClient) -> None:
    response = await api.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_ok_while_the_store_answers_and_503_when_it_does_not(
    api: httpx.AsyncClient, store: SqliteStore
) -> None:
    ready = await api.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ok"})
    await store.close()
    unready = await api.get("/readyz")
    assert (unready.status_code, unready.json()) == (503, {"status": "store unavailable"})


@pytest.mark.integration
async def test_a_database_outage_is_a_503_the_caller_can_retry_not_a_500() -> None:
    """PostgreSQL stopped under a running API: a call says the database cannot be reached (JSON, Retry-After), as
    the page shows it; once the server is back, the same call answers. Before, the API answered 500 with a bare
    "Internal Server Error", which a page cannot tell from a bug."""
    async with api_on_own_postgres(NOW) as own:
        bearer = auth(own.token)
        transport = httpx.ASGITransport(app=own.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vaktrom.test") as api:
            assert (await api.get("/api/v1/me", headers=bearer)).status_code == 200
            own.server.stop()
            down = await api.get("/api/v1/me", headers=bearer)
            own.server.start()
            back = [(await api.get("/api/v1/me", headers=bearer)).status_code for _ in range(2)]

    assert (down.status_code, down.json()) == (
        503,
        {"detail": "The database cannot be reached now; try again shortly."},
    )
    assert down.headers["retry-after"] == str(STORE_RETRY_AFTER_S)
    assert 200 in back  # a pooled connection the outage killed may fail once more (test_store_postgres_restart)


async def test_an_acknowledgement_aborted_by_conflicts_says_so_not_that_the_database_is_down(
    live_api: httpx.AsyncClient,
    store: SqliteStore,
    seeded: Seeded,
    token: TokenFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PostgreSQL aborted the acknowledgement for a deadlock on each of its runs (test_store_lock_order shows the
    store's side; here the store is made to report it, as a failing disk would be). The nurse is told that nothing
    was saved and to try again at once, not that the database cannot be reached: it can."""
    update = store.update_alert_by_id

    async def aborted(*args: object, **kwargs: object) -> object:
        raise StorageConflict("postgresql vaktrom", detail="deadlock detected")

    monkeypatch.setattr(store, "update_alert_by_id", aborted)
    refused = await live_api.post(f"/api/v1/alerts/{seeded.alert_id}/ack", headers=auth(token()))
    monkeypatch.setattr(store, "update_alert_by_id", update)
    unchanged = await store.get_alert(seeded.alert_id)
    again = await live_api.post(f"/api/v1/alerts/{seeded.alert_id}/ack", headers=auth(token()))

    assert (refused.status_code, refused.json()) == (
        503,
        {"detail": "Another change to the same records got in the way, so nothing was saved; try again."},
    )
    assert refused.headers["retry-after"] == str(CONFLICT_RETRY_AFTER_S)
    assert unchanged.state is AlertState.OPEN
    assert (again.status_code, again.json()["state"]) == (200, "acknowledged")


async def test_page_is_served_with_a_strict_content_security_policy(api: httpx.AsyncClient) -> None:
    response = await api.get("/")
    assert response.status_code == 200
    assert '<script type="module" src="/static/js/ward.js"></script>' in response.text
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    script = await api.get("/static/js/socket.js")
    assert script.status_code == 200 and 'new WebSocket(url, ["bearer", this.token])' in script.text
    for page, module in (("/alerts", "alerts"), ("/patient", "patient"), ("/team", "team")):
        served = await api.get(page)
        assert served.status_code == 200 and f'src="/static/js/{module}.js"' in served.text
        assert served.headers["content-security-policy"] == response.headers["content-security-policy"]
    licence = await api.get("/static/vendor/uplot/LICENSE")
    assert licence.status_code == 200 and "The MIT License" in licence.text


async def test_openapi_lists_every_rest_route(api: httpx.AsyncClient, token: TokenFactory) -> None:
    paths = set((await api.get("/api/v1/openapi.json", headers=auth(token()))).json()["paths"])
    assert {
        "/api/v1/me",
        "/api/v1/sign-in",
        "/api/v1/sites",
        "/api/v1/sites/{site_id}/wards",
        "/api/v1/wards/{ward_id}",
        "/api/v1/alerts",
        "/api/v1/alerts/{alert_id}/ack",
        "/api/v1/alerts/{alert_id}/history",
        "/api/v1/alerts/{alert_id}/resolve",
        "/api/v1/patients/{patient_id}",
        "/api/v1/patients/{patient_id}/vitals",
        "/api/v1/patients/{patient_id}/scores",
        "/api/v1/patients/{patient_id}/observations",
        "/api/v1/patients/{patient_id}/spo2-scale",
        "/api/v1/devices",
        "/api/v1/devices/{device_id}/pair",
        "/api/v1/devices/{device_id}/unpair",
        "/api/v1/devices/{device_id}",
        "/api/v1/devices/{device_id}/rotate",
        "/api/v1/devices/{device_id}/revoke",
        "/api/v1/devices/{device_id}/decommission",
        "/api/v1/devices/{device_id}/alerts/{alert_id}/ack",
        "/api/v1/alerts/{alert_id}/escalation",
        "/api/v1/alerts/{alert_id}/isbar",
        "/api/v1/deliveries/{delivery_id}/answer",
        "/api/v1/sites/{site_id}/escalation-policies",
        "/api/v1/sites/{site_id}/escalation-policies/{priority}",
        "/api/v1/sites/{site_id}/on-call",
        "/api/v1/sites/{site_id}/on-call/gaps",
        "/api/v1/rotations",
        "/api/v1/rotations/{rotation_id}/overrides",
        "/api/v1/webhook-endpoints/{endpoint_id}",
        "/api/v1/people/{person_id}/contact-points",
        "/api/v1/me/alerts",
        "/api/v1/patients/{patient_id}/scores/history",
        "/api/v1/patients/{patient_id}/observations/trend",
        "/api/v1/patients/{patient_id}/limits",
        "/api/v1/patients/{patient_id}/limits/history",
        "/api/v1/admin/sites",
        "/api/v1/admin/sites/{site_id}",
        "/api/v1/admin/sites/{site_id}/retire",
        "/api/v1/admin/wards",
        "/api/v1/admin/wards/{ward_id}",
        "/api/v1/admin/wards/{ward_id}/retire",
        "/api/v1/admin/beds",
        "/api/v1/admin/beds/{bed_id}",
        "/api/v1/admin/beds/{bed_id}/retire",
        "/api/v1/admin/patients",
        "/api/v1/admin/patients/{patient_id}",
        "/api/v1/admin/patients/{patient_id}/stays",
        "/api/v1/admin/patients/{patient_id}/admit",
        "/api/v1/admin/patients/{patient_id}/transfer",
        "/api/v1/admin/patients/{patient_id}/discharge",
        "/api/v1/admin/patients/{patient_id}/enrol",
        "/api/v1/admin/patients/{patient_id}/end-home",
        "/api/v1/admin/users",
        "/api/v1/admin/users/{user_id}",
        "/api/v1/admin/users/{user_id}/disable",
        "/api/v1/admin/users/{user_id}/enable",
        "/api/v1/admin/patients/{patient_id}/care-team",
        "/api/v1/admin/patients/{patient_id}/care-team/{member_id}/end",
        "/api/v1/admin/audit",
        "/api/v1/admin/patients/{patient_id}/access-report",
        "/api/v1/patients/{patient_id}/measurement-plan",
        "/api/v1/sites/{site_id}/worklist",
        "/api/v1/worklist/{item_id}",
        "/api/v1/worklist/{item_id}/claim",
        "/api/v1/worklist/{item_id}/notes",
        "/api/v1/worklist/{item_id}/close",
        "/api/v1/worklist/{item_id}/fhir",
        "/api/v1/worklist/{item_id}/assign",
        "/api/v1/worklist/{item_id}/escalate",
        "/api/v1/patients/{patient_id}/thresholds",
        "/api/v1/patients/{patient_id}/thresholds/history",
        "/api/v1/patients/{patient_id}/care-flags",
        "/api/v1/patients/{patient_id}/withdrawal-assessments",
        "/api/v1/patients/{patient_id}/withdrawal-assessments/proposal",
        "/api/v1/teams",
        "/api/v1/teams/{team_id}/board",
        "/api/v1/teams/{team_id}/patients/{patient_id}/plan-note",
        "/api/v1/teams/{team_id}/tasks",
        "/api/v1/teams/{team_id}/tasks/{task_id}",
        "/api/v1/teams/{team_id}/tasks/{task_id}/take",
        "/api/v1/teams/{team_id}/tasks/{task_id}/assign",
        "/api/v1/teams/{team_id}/tasks/{task_id}/notes",
        "/api/v1/teams/{team_id}/tasks/{task_id}/done",
        "/api/v1/admin/teams",
        "/api/v1/admin/teams/{team_id}/members",
        "/api/v1/admin/teams/{team_id}/members/{user_id}/end",
        "/api/v1/admin/teams/{team_id}/patients",
    } == paths


def test_a_short_auth_secret_is_refused(store: SqliteStore) -> None:
    client = offline_client()
    with pytest.raises(ValueError, match="at least 32 characters"):
        create_app(store=store, auth_secret="short", live=LiveHub(client, topic_root="r"), publisher=client)
