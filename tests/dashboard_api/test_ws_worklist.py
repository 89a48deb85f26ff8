"""The live worklist socket: the programme's items by urgency (seq 0), then a new threshold breach, its rise to red
and its close as deltas, read through the store whichever process wrote them; staff of other sites get the answer
an unknown site gets (4404); a coordinator from whom the programme's site is taken is closed with 4410, in the words
of every stream that loses a site."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from alerts.triage import breach_items
from core.clock import utc_now
from core.store.sqlite import SqliteStore
from core.thresholds import MeasurementThresholds, ThresholdBand, ThresholdSet, TriageColour
from core.types import CareSetting, Parameter, Patient, Reading, Role, Site, SiteKind, Stay, Ward
from dashboard_api import routes_homecare
from dashboard_api.auth import issue_token
from dashboard_api.ws import CloseCode
from dashboard_api.ws_worklist import WORKLIST_POLL_S
from tests.dashboard_api.conftest import SECRET, Seeded, Served
from tests.dashboard_api.test_ws import closed_with, receive, ward_socket

pytestmark = pytest.mark.integration

PATH = "/api/v1/ws/sites/s3/worklist"
CHANGE_WAIT_S = WORKLIST_POLL_S + 5  # the poll, and room for a loaded machine
R, Y, G = TriageColour.RED, TriageColour.YELLOW, TriageColour.GREEN
COPD = (
    MeasurementThresholds(
        Parameter.SPO2, (ThresholdBand(R, None, 85), ThresholdBand(Y, 85, 88), ThresholdBand(G, 88, None))
    ),
)


def coordinator_token(sites: tuple[str, ...] = ("s3",)) -> str:
    return issue_token(
        SECRET, user_id="nurse-kari", role=Role.COORDINATOR, site_ids=list(sites), ttl_s=3600, now=utc_now()
    )


async def copd_at_home(store: SqliteStore) -> None:
    await store.upsert_site(Site("s3", "Digital hjemmeoppfølging", SiteKind.HOME_PROGRAMME))
    await store.upsert_ward(Ward("w3", "s3", "DHO"))
    await store.upsert_patient(Patient("p4", "Liv Hjemme"))
    await store.add_stay(Stay("st4", "p4", "w3", CareSetting.HOME, utc_now() - timedelta(days=3)))
    await store.set_thresholds(ThresholdSet("p4", COPD, "KOLS", "dr-berg", utc_now() - timedelta(days=1)))


async def breach(store: SqliteStore, value: float) -> None:
    now = utc_now()
    reading = Reading("kit-4", "p4", Parameter.SPO2, value, now, now)
    thresholds = (await store.thresholds(["p4"]))["p4"]
    await store.open_or_raise_breaches(breach_items([reading], thresholds, site_id="s3", at=now))


async def test_a_new_breach_its_rise_and_its_close_reach_the_open_worklist(
    live_server: tuple[Served, Seeded], store: SqliteStore
) -> None:
    served, _ = live_server
    await copd_at_home(store)
    async with ward_socket(served, PATH, coordinator_token()) as socket:
        snapshot = await receive(socket)
        assert (snapshot["type"], snapshot["seq"], snapshot["items"]) == ("snapshot", 0, [])

        await breach(store, 87)
        async with asyncio.timeout(CHANGE_WAIT_S):
            opened = await receive(socket)
        await breach(store, 83)
        async with asyncio.timeout(CHANGE_WAIT_S):
            raised = await receive(socket)
        item_id = opened["item"]["item_id"]
        await store.update_worklist_item(
            item_id, actor="nurse-kari", action="closed", at=utc_now(), text="Ringte, O2 økt", outcome="contacted"
        )
        async with asyncio.timeout(CHANGE_WAIT_S):
            removed = await receive(socket)

    assert (opened["seq"], opened["type"], opened["item"]["triage_display"]) == (1, "item", "yellow")
    assert (raised["seq"], raised["item"]["item_id"], raised["item"]["triage_display"]) == (2, item_id, "red")
    assert [r["value"] for r in raised["item"]["implicated"]] == [87.0, 83.0]
    assert (removed["seq"], removed["type"], removed["item_id"]) == (3, "removed", item_id)
    assert ("ws.worklist", "p4") in [(a.action, a.patient_id) for a in await store.list_audit(limit=20)]


async def test_staff_of_another_site_get_the_answer_an_unknown_site_gets(
    live_server: tuple[Served, Seeded], store: SqliteStore
) -> None:
    served, _ = live_server
    await copd_at_home(store)
    async with ward_socket(served, PATH, coordinator_token(("s1",))) as theirs:
        code, reason = await closed_with(theirs)
    async with ward_socket(served, "/api/v1/ws/sites/s404/worklist", coordinator_token(("s1",))) as unknown:
        unknown_code, unknown_reason = await closed_with(unknown)

    assert code == unknown_code == CloseCode.NOT_FOUND
    assert reason.replace("s3", "?") == unknown_reason.replace("s404", "?")


async def test_a_coordinator_the_programme_is_taken_from_is_closed_4410_as_any_stream_losing_a_site(
    live_server: tuple[Served, Seeded], store: SqliteStore
) -> None:
    served, _ = live_server
    await copd_at_home(store)
    async with ward_socket(served, PATH, coordinator_token()) as socket:
        snapshot = await receive(socket)
        assert snapshot["type"] == "snapshot"
        await store.change_user("nurse-kari", at=utc_now(), site_ids=["s1", "s2"])
        closed = await closed_with(socket)
    async with ward_socket(served, PATH, coordinator_token()) as again:  # the page reconnects: s3 is not theirs now
        refused = await closed_with(again)

    assert closed == (CloseCode.ACCESS_REVOKED, "Access to site s3 withdrawn")
    assert refused == (CloseCode.NOT_FOUND, "Site s3 not found")


async def test_a_cut_live_list_starts_with_the_red_breach_and_says_it_was_cut(
    live_server: tuple[Served, Seeded], store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    served, _ = live_server
    monkeypatch.setattr(routes_homecare, "WORKLIST_MAX", 1)  # as 500, with fewer items to write
    await copd_at_home(store)
    await breach(store, 87)  # Liv's yellow SpO2 first, then Nils's red one
    await store.upsert_patient(Patient("p9", "Nils Hjemme"))
    await store.add_stay(Stay("st9", "p9", "w3", CareSetting.HOME, utc_now() - timedelta(days=1)))
    await store.set_thresholds(ThresholdSet("p9", COPD, "KOLS", "dr-berg", utc_now() - timedelta(days=1)))
    now = utc_now()
    thresholds = (await store.thresholds(["p9"]))["p9"]
    red = Reading("kit-9", "p9", Parameter.SPO2, 82, now, now)
    await store.open_or_raise_breaches(breach_items([red], thresholds, site_id="s3", at=now))

    async with ward_socket(served, PATH, coordinator_token()) as socket:
        snapshot = await receive(socket)

    assert [(i["patient_id"], i["triage_display"]) for i in snapshot["items"]] == [("p9", "red")]
    assert snapshot["truncated"] is True
