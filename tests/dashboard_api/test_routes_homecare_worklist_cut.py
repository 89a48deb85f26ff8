"""What a coordinator sees on a long worklist and when two people reach for one item: the most urgent items are
read first and a cut list says so (`X-Truncated`); the closed list shows the latest closures; an item another
coordinator claimed answers 409 naming its owner (audited as refused); and an escalation two items share keeps
running until the last of them is closed."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from alerts.triage import breach_items
from core.homecare import WorklistState
from core.store.sqlite import SqliteStore
from core.thresholds import MeasurementThresholds, ThresholdBand, ThresholdSet, TriageColour
from core.types import AlertState, CareSetting, Parameter, Patient, Reading, Role, Stay
from dashboard_api import routes_homecare
from tests.dashboard_api.conftest import FixedClock, TokenFactory, auth
from tests.dashboard_api.test_routes_homecare import WORKLIST_PATH, home_programme  # noqa: F401 (a fixture)

R, Y, G = TriageColour.RED, TriageColour.YELLOW, TriageColour.GREEN
SPO2 = MeasurementThresholds(
    Parameter.SPO2, (ThresholdBand(R, None, 85), ThresholdBand(Y, 85, 88), ThresholdBand(G, 88, None))
)
PULSE = MeasurementThresholds(Parameter.PULSE, (ThresholdBand(G, None, 110), ThresholdBand(Y, 110, None)))


def _coordinator(token: TokenFactory, user: str = "nurse-kari") -> dict[str, str]:
    return auth(token(Role.COORDINATOR, sites=("s3",), user=user))


async def _readings(store: SqliteStore, clock: FixedClock, patient_id: str, *values: tuple[Parameter, float]) -> None:
    """`patient_id`, at home in programme s3 with COPD thresholds, sends `values` now."""
    at = clock()
    thresholds = ThresholdSet(patient_id, (SPO2, PULSE), "KOLS", "dr", at - timedelta(days=1))
    await store.set_thresholds(thresholds)
    readings = [Reading(f"kit-{patient_id}", patient_id, p, v, at, at) for p, v in values]
    await store.open_or_raise_breaches(breach_items(readings, thresholds, site_id="s3", at=at))


async def test_a_cut_worklist_starts_with_the_new_red_breach_and_says_it_was_cut(
    home_programme: httpx.AsyncClient,  # noqa: F811
    token: TokenFactory,
    store: SqliteStore,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(routes_homecare, "WORKLIST_MAX", 3)  # as 500, with fewer items to write
    for n in range(5):  # older yellow breaches: more than one read takes
        await store.upsert_patient(Patient(f"y{n}", f"Pasient {n}"))
        await store.add_stay(Stay(f"st-y{n}", f"y{n}", "w3", CareSetting.HOME, clock() - timedelta(days=3)))
        await _readings(store, clock, f"y{n}", (Parameter.SPO2, 87))
        clock.advance(60)
    await _readings(store, clock, "p4", (Parameter.SPO2, 82))

    cut = await home_programme.get(WORKLIST_PATH, headers=_coordinator(token))
    monkeypatch.setattr(routes_homecare, "WORKLIST_MAX", 500)
    whole = await home_programme.get(WORKLIST_PATH, headers=_coordinator(token))

    assert cut.status_code == 200
    assert [(i["patient_id"], i["triage_display"]) for i in cut.json()] == [
        ("p4", "red"), ("y0", "yellow"), ("y1", "yellow"),
    ]  # fmt: skip
    assert (cut.headers["X-Truncated"], whole.headers["X-Truncated"]) == ("true", "false")
    assert len(whole.json()) == 6


async def test_the_closed_list_shows_the_latest_closures_first(
    home_programme: httpx.AsyncClient,  # noqa: F811
    token: TokenFactory,
    store: SqliteStore,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(routes_homecare, "WORKLIST_MAX", 1)
    await _readings(store, clock, "p4", (Parameter.SPO2, 82), (Parameter.PULSE, 115))
    by_colour = {i.triage_colour: i.item_id for i in await store.worklist("s3", states=[WorklistState.OPEN])}
    close = {"outcome": "contacted", "comment": "ringte"}
    for colour in (Y, R):  # the red item (opened with the yellow one) is closed last
        clock.advance(60)
        closed = await home_programme.post(f"/api/v1/worklist/{by_colour[colour]}/close", json=close,
                                           headers=_coordinator(token))  # fmt: skip
        assert closed.status_code == 200

    listed = await home_programme.get(WORKLIST_PATH, params={"state": "closed"}, headers=_coordinator(token))

    assert [i["item_id"] for i in listed.json()] == [by_colour[R]]
    assert listed.headers["X-Truncated"] == "true"


async def test_an_item_another_coordinator_claimed_is_refused_naming_its_owner_and_audited(
    home_programme: httpx.AsyncClient,  # noqa: F811
    token: TokenFactory,
    store: SqliteStore,
    clock: FixedClock,
) -> None:
    await _readings(store, clock, "p4", (Parameter.SPO2, 82))
    (item,) = (await home_programme.get(WORKLIST_PATH, headers=_coordinator(token))).json()
    path = f"/api/v1/worklist/{item['item_id']}"

    mine = await home_programme.post(f"{path}/claim", headers=_coordinator(token))
    theirs = await home_programme.post(f"{path}/claim", headers=_coordinator(token, "nurse-anne"))
    again = await home_programme.post(f"{path}/claim", headers=_coordinator(token))
    detail = await home_programme.get(path, headers=_coordinator(token))

    assert (mine.status_code, again.status_code) == (200, 200)
    expected = f"Worklist item {item['item_id']} is claimed by nurse-kari; they can assign it to you"
    assert (theirs.status_code, theirs.json()) == (409, {"detail": expected})
    assert (detail.json()["item"]["state"], detail.json()["item"]["owner"]) == ("claimed", "nurse-kari")
    assert [(e["actor"], e["action"]) for e in detail.json()["history"]] == [
        ("system", "opened"), ("nurse-kari", "claimed"),
    ]  # fmt: skip
    (refused,) = [a for a in await store.list_audit(limit=20) if a.user_id == "nurse-anne"]
    assert (refused.action, refused.subject, refused.patient_id, refused.detail) == (
        "denied.claim.worklist_item", item["item_id"], "p4", expected,
    )  # fmt: skip


@pytest.mark.integration  # escalating announces the alert through the broker
async def test_closing_one_escalated_item_leaves_the_escalation_the_other_shares_running(
    home_programme: httpx.AsyncClient,  # noqa: F811
    live_api: httpx.AsyncClient,
    token: TokenFactory,
    store: SqliteStore,
    clock: FixedClock,
) -> None:
    await _readings(store, clock, "p4", (Parameter.SPO2, 82), (Parameter.PULSE, 115))
    items = (await live_api.get(WORKLIST_PATH, headers=_coordinator(token))).json()
    red, yellow = (f"/api/v1/worklist/{i['item_id']}" for i in items)  # the red SpO2 first
    first = await live_api.post(f"{red}/escalate", json={"reason": "SpO2 82"}, headers=_coordinator(token))
    joined = await live_api.post(f"{yellow}/escalate", json={"reason": "puls 115"}, headers=_coordinator(token))
    alert_id = first.json()["alert_id"]
    close = {"outcome": "contacted", "comment": "ny måling ok"}

    pulse_closed = await live_api.post(f"{yellow}/close", json=close, headers=_coordinator(token))
    still = await store.get_alert(alert_id)
    spo2_closed = await live_api.post(f"{red}/close", json=close, headers=_coordinator(token))
    resolved = await store.get_alert(alert_id)

    assert joined.json()["alert_id"] == alert_id
    assert (pulse_closed.status_code, spo2_closed.status_code) == (200, 200)
    assert still.state is not AlertState.RESOLVED  # the red item's escalation is still unanswered
    assert (resolved.state, resolved.resolved_by, resolved.resolve_reason) == (
        AlertState.RESOLVED, "nurse-kari", "worklist item closed: contacted",
    )  # fmt: skip
