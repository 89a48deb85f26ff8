"""A home patient's personal thresholds over REST: set by the responsible clinician, read back in words, refused
with the field named when the bands cannot be meant, kept as history, audited naming the patient."""

from __future__ import annotations

import httpx
import pytest

from core.store.sqlite import SqliteStore
from core.types import Role
from tests.dashboard_api.conftest import FixedClock, TokenFactory, auth
from tests.dashboard_api.test_routes_homecare import home_programme as live_home  # noqa: F401 (a fixture)

PATH = "/api/v1/patients/p4/thresholds"
# The COPD patient on oxygen: green 88-92, yellow 85-87 or 93-96, red below 85, orange from 97.
COPD = {
    "reason": "KOLS, mål 88-92 % på oksygen",
    "thresholds": [
        {
            "measurement": "spo2",
            "bands": [
                {"colour": "R", "high": 85},
                {"colour": "Y", "low": 85, "high": 88},
                {"colour": "G", "low": 88, "high": 93},
                {"colour": "Y", "low": 93, "high": 97},
                {"colour": "O", "low": 97},
            ],
        }
    ],
}


@pytest.fixture
async def home_programme(live_home: httpx.AsyncClient, live_api: httpx.AsyncClient) -> httpx.AsyncClient:  # noqa: F811
    """Site s3 follows Liv (p4) at home; the API publishes to a real broker (the rescore request)."""
    return live_api


def _as(token: TokenFactory, role: Role, user: str, sites: tuple[str, ...] = ("s3",)) -> dict[str, str]:
    return auth(token(role, sites=sites, user=user))


async def test_the_doctor_sets_a_copd_patients_spo2_bands_and_the_coordinator_reads_them_in_words(
    home_programme: httpx.AsyncClient, token: TokenFactory, store: SqliteStore
) -> None:
    put = await home_programme.put(PATH, json=COPD, headers=_as(token, Role.DOCTOR, "dr-berg"))
    got = await home_programme.get(PATH, headers=_as(token, Role.COORDINATOR, "nurse-kari"))

    assert put.status_code == got.status_code == 200
    assert got.json() == put.json()
    body = got.json()
    assert (body["patient_id"], body["reason"], body["set_by"]) == ("p4", "KOLS, mål 88-92 % på oksygen", "dr-berg")
    [spo2] = body["thresholds"]
    assert spo2["described"] == "red < 85, yellow 85-88, green 88-93, yellow 93-97, orange >= 97"
    assert spo2["bands"][0] == {"colour": "R", "display": "red", "low": None, "high": 85.0}
    actions = [(a.action, a.patient_id) for a in await store.list_audit(limit=5)]
    assert ("write.thresholds", "p4") in actions and ("read.thresholds", "p4") in actions


async def test_a_new_set_replaces_the_old_one_which_stays_in_the_history(
    home_programme: httpx.AsyncClient, token: TokenFactory, clock: FixedClock
) -> None:
    nurse = _as(token, Role.NURSE, "nurse-anne")
    await home_programme.put(PATH, json=COPD, headers=nurse)
    clock.advance(3600)
    cleared = await home_programme.put(PATH, json={"reason": "Ut av KOLS-forløpet", "thresholds": []}, headers=nurse)
    history = await home_programme.get(f"{PATH}/history", headers=nurse)

    assert cleared.status_code == 200 and cleared.json()["thresholds"] == []
    assert [(h["reason"], len(h["thresholds"])) for h in history.json()] == [
        ("KOLS, mål 88-92 % på oksygen", 1),
        ("Ut av KOLS-forløpet", 0),
    ]


def _spo2_bands(*bands: dict[str, object]) -> dict[str, object]:
    return {"reason": "KOLS", "thresholds": [{"measurement": "spo2", "bands": list(bands)}]}


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (_spo2_bands({"colour": "R", "high": 85}, {"colour": "G", "low": 86}), "thresholds[spo2].bands[1].low"),
        (_spo2_bands({"colour": "R", "high": 85}, {"colour": "G", "low": 80}), "thresholds[spo2].bands[1].low"),
        (_spo2_bands({"colour": "R", "high": 85}, {"colour": "Y", "low": 85}), "thresholds[spo2].bands"),
        ({"reason": "KOLS", "thresholds": [{"measurement": "weight", "bands": [{"colour": "G"}]}]}, "measurement"),
        (
            {"reason": "KOLS", "thresholds": [{"measurement": "consciousness", "bands": [{"colour": "G"}]}]},
            "thresholds[consciousness].measurement",
        ),
        (_spo2_bands({"colour": "purple"}), "colour"),
        ({"thresholds": []}, "reason"),
    ],
)
async def test_bands_that_cannot_be_meant_are_refused_naming_the_field_and_nothing_is_stored(
    home_programme: httpx.AsyncClient, token: TokenFactory, store: SqliteStore, body: dict[str, object], named: str
) -> None:
    response = await home_programme.put(PATH, json=body, headers=_as(token, Role.DOCTOR, "dr-berg"))

    assert response.status_code == 422
    assert named in str(response.json()["detail"])
    assert await store.threshold_history("p4") == []


async def test_a_refused_set_is_audited_as_refused_not_as_a_write(
    home_programme: httpx.AsyncClient, token: TokenFactory, store: SqliteStore
) -> None:
    overlapping = _spo2_bands({"colour": "R", "high": 85}, {"colour": "Y", "low": 85})
    response = await home_programme.put(PATH, json=overlapping, headers=_as(token, Role.DOCTOR, "dr-berg"))

    assert response.status_code == 422
    [entry] = [a for a in await store.list_audit(limit=5) if a.patient_id == "p4"]
    assert (entry.user_id, entry.action, entry.subject, entry.grant) == ("dr-berg", "denied.write.thresholds", "p4", "")
    assert entry.detail == response.json()["detail"]


async def test_a_coordinator_may_not_set_thresholds_and_another_programme_sees_an_unknown_patient(
    home_programme: httpx.AsyncClient, token: TokenFactory, store: SqliteStore
) -> None:
    coordinator = await home_programme.put(PATH, json=COPD, headers=_as(token, Role.COORDINATOR, "nurse-kari"))
    elsewhere = await home_programme.get(PATH, headers=_as(token, Role.DOCTOR, "dr-lunge", sites=("s1",)))
    unknown = await home_programme.get(
        "/api/v1/patients/p404/thresholds", headers=_as(token, Role.DOCTOR, "dr-lunge", sites=("s1",))
    )

    assert coordinator.status_code == 403
    assert elsewhere.status_code == unknown.status_code == 404
    assert elsewhere.json()["detail"].replace("p4", "?") == unknown.json()["detail"].replace("p404", "?")
    assert await store.threshold_history("p4") == []
