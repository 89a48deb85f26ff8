"""The triage worklist over REST: threshold breaches by colour, exported for the patient's record with their
triage colour and readings (every resource validated against FHIR R4 with fhir.resources)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.detectedissue import DetectedIssue
from fhir.resources.R4B.observation import Observation

from alerts.timers import sync_worklist_alerts
from alerts.triage import breach_items
from alerts.vkp_fhir import VKP_ALERT_CODE_SYSTEM, VKP_TRIAGE_SYSTEM
from core.store.sqlite import SqliteStore
from core.thresholds import MeasurementThresholds, ThresholdBand, ThresholdSet, TriageColour
from core.types import AlertKind, AlertPriority, AlertSeverity, AlertState, Parameter, Reading, Role
from tests.dashboard_api.conftest import FixedClock, TokenFactory, auth
from tests.dashboard_api.test_routes_homecare import home_programme  # noqa: F401 (a fixture)

WORKLIST_PATH = "/api/v1/sites/s3/worklist"
R, Y, G = TriageColour.RED, TriageColour.YELLOW, TriageColour.GREEN
SPO2_BANDS = (ThresholdBand(R, None, 85), ThresholdBand(Y, 85, 88), ThresholdBand(G, 88, None))


@pytest.fixture
async def copd_at_home(
    home_programme: httpx.AsyncClient,  # noqa: F811 (the imported fixture)
    store: SqliteStore,
    clock: FixedClock,
) -> httpx.AsyncClient:
    """Site s3, a home-monitoring programme, follows Liv (p4), a COPD patient with personal SpO2 bands."""
    thresholds = (MeasurementThresholds(Parameter.SPO2, SPO2_BANDS),)
    await store.set_thresholds(ThresholdSet("p4", thresholds, "KOLS", "dr-berg", clock() - timedelta(days=1)))
    return home_programme


async def breach(store: SqliteStore, clock: FixedClock, value: float, *, minutes: int = 0) -> None:
    at = clock() + timedelta(minutes=minutes)
    reading = Reading("kit-4", "p4", Parameter.SPO2, value, at, at)
    thresholds = (await store.thresholds(["p4"]))["p4"]
    await store.open_or_raise_breaches(breach_items([reading], thresholds, site_id="s3", at=at))


def _coordinator(token: TokenFactory) -> dict[str, str]:
    return auth(token(Role.COORDINATOR, sites=("s3",), user="nurse-kari"))


def _resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


async def test_a_closed_threshold_item_is_exported_with_its_colour_and_each_readings_own(
    copd_at_home: httpx.AsyncClient, token: TokenFactory, store: SqliteStore, clock: FixedClock
) -> None:
    await breach(store, clock, 87)
    await breach(store, clock, 83, minutes=30)
    [listed] = (await copd_at_home.get(WORKLIST_PATH, headers=_coordinator(token))).json()
    item_id = listed["item_id"]
    assert (listed["kind"], listed["triage_colour"], listed["triage_display"], listed["vkp_code"]) == (
        "threshold_breach", "R", "red", "5.2.1",
    )  # fmt: skip
    assert [r["value"] for r in listed["implicated"]] == [87.0, 83.0]
    await copd_at_home.post(f"/api/v1/worklist/{item_id}/claim", headers=_coordinator(token))
    close = {"outcome": "contacted", "comment": "Ringte, økte O2 til 2 l/min, ny måling om 1 t"}
    await copd_at_home.post(f"/api/v1/worklist/{item_id}/close", json=close, headers=_coordinator(token))

    response = await copd_at_home.get(f"/api/v1/worklist/{item_id}/fhir", headers=_coordinator(token))

    assert response.status_code == 200
    bundle = response.json()
    Bundle.model_validate(bundle)
    [issue] = _resources(bundle, "DetectedIssue")
    DetectedIssue.model_validate(issue)
    assert issue["status"] == "final" and issue["severity"] == "high"
    assert issue["code"]["coding"][0] == {
        "system": VKP_ALERT_CODE_SYSTEM, "code": "5.2.1", "display": "Måledata rapportert",
    }  # fmt: skip
    triage = issue["evidence"][-1]
    assert triage["code"][0]["coding"] == [{"system": VKP_TRIAGE_SYSTEM, "code": "R", "display": "red"}]
    observations = _resources(bundle, "Observation")
    for observation in observations:
        Observation.model_validate(observation)
    assert [(o["valueQuantity"]["value"], o["interpretation"][0]["coding"][0]["code"]) for o in observations] == [
        (87.0, "Y"),
        (83.0, "R"),
    ]
    assert len(triage["detail"]) == 2
    assert "Ringte, økte O2" in issue["mitigation"][0]["action"]["text"]


async def test_a_home_patients_news2_alert_joins_the_list_above_an_older_yellow_breach(
    copd_at_home: httpx.AsyncClient, token: TokenFactory, store: SqliteStore, clock: FixedClock
) -> None:
    await breach(store, clock, 87)
    clock.advance(600)
    await store.raise_alert(
        patient_id="p4", device_id=None, ward_id="w3", kind=AlertKind.NEWS2, severity=AlertSeverity.MEDIUM,
        message="NEWS2 5 (RR 3, SpO2 2)", at=clock(),
    )  # fmt: skip
    await sync_worklist_alerts(store, clock)

    listed = (await copd_at_home.get(WORKLIST_PATH, headers=_coordinator(token))).json()

    assert [(i["kind"], i["triage_display"], i["summary"]) for i in listed] == [
        ("alert", "orange", "NEWS2: NEWS2 5 (RR 3, SpO2 2)"),
        ("threshold_breach", "yellow", "SpO2 87 %: yellow under the personal thresholds"),
    ]


async def test_an_item_is_assigned_to_a_coordinator_of_the_programme_only(
    copd_at_home: httpx.AsyncClient, token: TokenFactory, store: SqliteStore, clock: FixedClock
) -> None:
    await breach(store, clock, 87)
    [item] = (await copd_at_home.get(WORKLIST_PATH, headers=_coordinator(token))).json()
    path = f"/api/v1/worklist/{item['item_id']}"

    nobody = await copd_at_home.post(f"{path}/assign", json={"assignee": "ghost"}, headers=_coordinator(token))
    assigned = await copd_at_home.post(f"{path}/assign", json={"assignee": "nurse-bo"}, headers=_coordinator(token))
    detail = (await copd_at_home.get(path, headers=_coordinator(token))).json()

    assert nobody.status_code == 422
    assert nobody.json()["detail"] == "assignee: ghost is not a coordinator of programme s3"
    assert assigned.status_code == 200 and assigned.json()["assignee"] == "nurse-bo"
    assert [(h["action"], h["actor"], h["text"]) for h in detail["history"]][-1] == (
        "assigned",
        "nurse-kari",
        "nurse-bo",
    )
    assert ("assign.worklist_item", "p4") in [(a.action, a.patient_id) for a in await store.list_audit(limit=5)]


async def test_escalating_a_red_breach_opens_a_high_alert_in_the_chain_and_closing_the_item_resolves_it(
    copd_at_home: httpx.AsyncClient,
    live_api: httpx.AsyncClient,
    token: TokenFactory,
    store: SqliteStore,
    clock: FixedClock,
) -> None:
    await breach(store, clock, 83)
    [item] = (await live_api.get(WORKLIST_PATH, headers=_coordinator(token))).json()
    path = f"/api/v1/worklist/{item['item_id']}"
    reason = {"reason": "Svarer ikke på telefon, SpO2 83 % på 2 l O2"}

    response = await live_api.post(f"{path}/escalate", json=reason, headers=_coordinator(token))

    assert response.status_code == 200
    alert = await store.get_alert(response.json()["alert_id"])
    assert (alert.kind, alert.priority, alert.state, alert.patient_id) == (
        AlertKind.WORKLIST_ESCALATION, AlertPriority.HIGH, AlertState.OPEN, "p4",
    )  # fmt: skip
    assert alert.message.startswith("Escalated from the worklist by nurse-kari: SpO2 83 %")
    escalation = await store.get_escalation(alert.alert_id)
    assert escalation is not None and escalation.site_id == "s3" and escalation.stopped_at is None
    history = (await live_api.get(path, headers=_coordinator(token))).json()["history"]
    assert history[-1]["action"] == "escalated"
    assert history[-1]["text"] == f"alert {alert.alert_id} (high priority): Svarer ikke på telefon, SpO2 83 % på 2 l O2"
    again = await live_api.post(f"{path}/escalate", json=reason, headers=_coordinator(token))
    assert again.json()["alert_id"] == alert.alert_id  # joins the alert already open

    close = {"outcome": "escalated", "comment": "Legevakt dro hjem til henne"}
    closed = await live_api.post(f"{path}/close", json=close, headers=_coordinator(token))

    assert closed.status_code == 200
    resolved = await store.get_alert(alert.alert_id)
    assert (resolved.state, resolved.resolved_by) == (AlertState.RESOLVED, "nurse-kari")
    assert resolved.resolve_reason == "worklist item closed: escalated"
