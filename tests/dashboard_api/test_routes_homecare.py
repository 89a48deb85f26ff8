"""A home patient's measurement plan and the programme's worklist over REST: set, checked by the timers, claimed,
noted and closed; refused to anyone outside the programme exactly as an unknown id is; audited per patient."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle

from alerts.timers import fire_due_plan_checks
from core.homecare import ARRIVAL_GRACE_S
from core.store.sqlite import SqliteStore
from core.types import CareSetting, Patient, Role, Site, SiteKind, Stay, Ward
from tests.dashboard_api.conftest import FixedClock, TokenFactory, auth

PLAN_PATH = "/api/v1/patients/p4/measurement-plan"
WORKLIST_PATH = "/api/v1/sites/s3/worklist"
# NOW is 2025-01-15 08:00 UTC (09:00 in Oslo): the first 10:00 window closes at 10:00 UTC.
PLAN = {
    "timezone": "Europe/Oslo",
    "inactive_after_h": 48,
    "items": [{"item_id": "morning", "parameters": ["spo2", "pulse"], "local_times": ["10:00"], "window_min": 60}],
}


@pytest.fixture
async def home_programme(store: SqliteStore, api: httpx.AsyncClient, clock: FixedClock) -> httpx.AsyncClient:
    """Site s3, a home-monitoring programme, follows Liv (p4) at home."""
    await store.upsert_site(Site("s3", "Digital hjemmeoppfølging", SiteKind.HOME_PROGRAMME))
    await store.upsert_ward(Ward("w3", "s3", "DHO"))
    await store.upsert_patient(Patient("p4", "Liv Hjemme"))
    await store.add_stay(Stay("st4", "p4", "w3", CareSetting.HOME, clock() - timedelta(days=3)))
    return api


def _coordinator(token: TokenFactory, sites: tuple[str, ...] = ("s3",)) -> dict[str, str]:
    return auth(token(Role.COORDINATOR, sites=sites, user="nurse-kari"))


async def test_a_coordinator_sets_the_plan_and_reads_it_back(
    home_programme: httpx.AsyncClient, token: TokenFactory, store: SqliteStore
) -> None:
    put = await home_programme.put(PLAN_PATH, json=PLAN, headers=_coordinator(token))
    got = await home_programme.get(PLAN_PATH, headers=_coordinator(token))

    assert put.status_code == 200
    assert got.json() == put.json() == {
        "patient_id": "p4", "timezone": "Europe/Oslo", "inactive_after_h": 48.0,
        "items": [{"item_id": "morning", "parameters": ["pulse", "spo2"], "local_times": ["10:00"],
                   "window_min": 60, "weekdays": [0, 1, 2, 3, 4, 5, 6]}],
        "set_by": "nurse-kari", "set_at": "2025-01-15T08:00:00Z",
    }  # fmt: skip
    actions = [(a.action, a.patient_id) for a in await store.list_audit(limit=5)]
    assert ("write.plan", "p4") in actions and ("read.plan", "p4") in actions


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"timezone": "Europe/Tromso"}, "timezone"),
        ({"items": [{**PLAN["items"][0], "window_min": 0}]}, "window_min"),  # type: ignore[dict-item]
        ({"items": [{**PLAN["items"][0], "parameters": ["weight"]}]}, "parameters"),  # type: ignore[dict-item]
        ({"items": []}, "items"),
    ],
)
async def test_a_plan_that_cannot_be_followed_is_refused_naming_the_field_and_nothing_is_stored(
    home_programme: httpx.AsyncClient, token: TokenFactory, store: SqliteStore, change: dict[str, object], named: str
) -> None:
    response = await home_programme.put(PLAN_PATH, json=PLAN | change, headers=_coordinator(token))

    assert response.status_code == 422
    assert named in str(response.json()["detail"])
    assert await store.measurement_plan("p4") is None


async def test_another_programmes_staff_get_the_answer_an_unknown_patient_gets(
    home_programme: httpx.AsyncClient, token: TokenFactory, store: SqliteStore
) -> None:
    theirs = await home_programme.put(PLAN_PATH, json=PLAN, headers=_coordinator(token, sites=("s1",)))
    unknown = await home_programme.put(
        "/api/v1/patients/p404/measurement-plan", json=PLAN, headers=_coordinator(token, sites=("s1",))
    )
    worklist = await home_programme.get(WORKLIST_PATH, headers=_coordinator(token, sites=("s1",)))

    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["detail"].replace("p4", "?") == unknown.json()["detail"].replace("p404", "?")
    assert worklist.status_code == 404
    assert await store.measurement_plan("p4") is None
    assert {a.action for a in await store.list_audit(limit=5)} >= {"denied.write.plan", "denied.read.worklist"}


async def test_a_missed_window_reaches_the_worklist_and_is_claimed_noted_and_closed(
    home_programme: httpx.AsyncClient, token: TokenFactory, store: SqliteStore, clock: FixedClock
) -> None:
    headers = _coordinator(token)
    await home_programme.put(PLAN_PATH, json=PLAN, headers=headers)
    clock.advance(2 * 3600 + ARRIVAL_GRACE_S + 1)  # the 10:00-11:00 Oslo window closed (10:00 UTC) with nothing
    assert await fire_due_plan_checks(store, clock) == 1
    headers = _coordinator(token)  # signed in again: the first token has expired meanwhile

    listed = await home_programme.get(WORKLIST_PATH, headers=headers)
    (item,) = listed.json()
    assert (item["kind"], item["vkp_code"], item["patient_id"], item["state"]) == (
        "missed_measurement", "5.3.2", "p4", "open",
    )  # fmt: skip
    assert item["missing_loinc"] == ["59408-5", "8867-4"]  # SpO2 and pulse, by LOINC
    path = f"/api/v1/worklist/{item['item_id']}"

    claimed = await home_programme.post(f"{path}/claim", headers=headers)
    noted = await home_programme.post(f"{path}/notes", json={"text": "Ringte, ingen svar"}, headers=headers)
    no_comment = await home_programme.post(f"{path}/close", json={"outcome": "measured"}, headers=headers)
    closed = await home_programme.post(
        f"{path}/close", json={"outcome": "measured", "comment": "Målte på telefon: 96 %"}, headers=headers
    )
    again = await home_programme.post(f"{path}/claim", headers=headers)
    detail = await home_programme.get(path, headers=headers)

    assert (claimed.json()["state"], claimed.json()["owner"]) == ("claimed", "nurse-kari")
    assert noted.status_code == 200
    assert no_comment.status_code == 422 and "comment" in str(no_comment.json()["detail"])
    assert (closed.json()["state"], closed.json()["outcome"]) == ("closed", "measured")
    assert again.status_code == 409 and "closed" in again.json()["detail"]
    assert [(e["action"], e["text"]) for e in detail.json()["history"]] == [
        ("opened", item["summary"]), ("claimed", ""), ("note", "Ringte, ingen svar"),
        ("closed", "Målte på telefon: 96 %"),
    ]  # fmt: skip
    assert (await home_programme.get(WORKLIST_PATH, headers=headers)).json() == []  # open and claimed only
    read_rows = [a for a in await store.list_audit(limit=50) if a.action == "read.worklist"]
    assert [(a.patient_id, a.grant) for a in read_rows] == [(None, "role:coordinator"), ("p4", "site:s3")]


async def test_a_patient_nobody_has_heard_from_comes_before_a_missed_measurement(
    home_programme: httpx.AsyncClient, token: TokenFactory, store: SqliteStore, clock: FixedClock
) -> None:
    await home_programme.put(PLAN_PATH, json=PLAN, headers=_coordinator(token))
    clock.advance(
        48 * 3600 + ARRIVAL_GRACE_S + 1
    )  # two days without a reading: both windows missed, and the patient inactive
    assert await fire_due_plan_checks(store, clock) == 3

    listed = (await home_programme.get(WORKLIST_PATH, headers=_coordinator(token))).json()

    assert [i["kind"] for i in listed] == ["inactive_patient", "missed_measurement", "missed_measurement"]
    assert listed[1]["opened_at"] <= listed[2]["opened_at"]


async def test_a_closed_item_is_exported_as_a_fhir_bundle_for_the_patients_record(
    home_programme: httpx.AsyncClient, token: TokenFactory, store: SqliteStore, clock: FixedClock
) -> None:
    await home_programme.put(PLAN_PATH, json=PLAN, headers=_coordinator(token))
    clock.advance(2 * 3600 + ARRIVAL_GRACE_S + 1)
    await fire_due_plan_checks(store, clock)
    headers = _coordinator(token)
    (item,) = (await home_programme.get(WORKLIST_PATH, headers=headers)).json()
    path = f"/api/v1/worklist/{item['item_id']}"
    await home_programme.post(f"{path}/close", json={"outcome": "contacted", "comment": "Innlagt"}, headers=headers)

    exported = await home_programme.get(f"{path}/fhir", headers=headers)

    assert exported.status_code == 200 and exported.headers["content-type"] == "application/fhir+json"
    bundle = exported.json()
    Bundle.model_validate(bundle)
    (issue,) = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DetectedIssue"]
    assert (issue["code"]["coding"][0]["code"], issue["status"]) == ("5.3.2", "final")
    assert issue["mitigation"][0]["action"]["text"] == "contacted: Innlagt"
    assert ("export.worklist_item", "p4") in [(a.action, a.patient_id) for a in await store.list_audit(limit=5)]
