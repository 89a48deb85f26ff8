"""A worklist item belongs to its programme: the programme's staff reach it on the list and by its id, whatever stay
its patient has now, and staff of the site the patient has moved to reach it neither way (404 as for an unknown item,
audited as refused naming the patient)."""

from __future__ import annotations

import httpx
import pytest

from core.homecare import WorklistItem, WorklistState
from core.store.sqlite import SqliteStore
from core.types import CareSetting, Role, Stay
from tests.dashboard_api.conftest import FixedClock, TokenFactory, auth
from tests.dashboard_api.test_routes_team import kari_misses_a_check_in, make_team


@pytest.fixture
async def kari_admitted_elsewhere(
    api: httpx.AsyncClient, store: SqliteStore, clock: FixedClock, token: TokenFactory
) -> WorklistItem:
    """Kari (p2) missed a check-in at home in programme s1, then was admitted to bed b21 of site s2: s1's item."""
    await make_team(api, token, "p2")
    await kari_misses_a_check_in(store, clock)
    (item,) = await store.worklist("s1", states=[WorklistState.OPEN])
    await store.end_stay("st3", end_at=clock())  # Per leaves b21
    await store.end_stay("st2", end_at=clock())  # Kari's home follow-up ends ...
    await store.add_stay(Stay("st5", "p2", "w2", CareSetting.BEDSIDE, clock(), bed_id="b21"))  # ... and s2 admits her
    return item


def _s1_coordinator(token: TokenFactory) -> dict[str, str]:
    return auth(token(Role.COORDINATOR, sites=("s1",), user="nurse-kari"))


def _s2_nurse(token: TokenFactory) -> dict[str, str]:
    return auth(token(Role.NURSE, sites=("s2",), user="nurse-bea"))


async def test_the_programmes_coordinator_still_reads_and_closes_the_item_of_a_patient_admitted_elsewhere(
    api: httpx.AsyncClient, kari_admitted_elsewhere: WorklistItem, token: TokenFactory, store: SqliteStore
) -> None:
    item_id = kari_admitted_elsewhere.item_id
    listed = await api.get("/api/v1/sites/s1/worklist", headers=_s1_coordinator(token))
    detail = await api.get(f"/api/v1/worklist/{item_id}", headers=_s1_coordinator(token))
    exported = await api.get(f"/api/v1/worklist/{item_id}/fhir", headers=_s1_coordinator(token))
    closed = await api.post(
        f"/api/v1/worklist/{item_id}/close",
        json={"outcome": "admitted", "comment": "Innlagt KAD"},
        headers=_s1_coordinator(token),
    )

    assert [i["item_id"] for i in listed.json()] == [item_id]
    assert (detail.status_code, detail.json()["item"]["patient_id"]) == (200, "p2")
    assert exported.status_code == 200
    assert (closed.status_code, closed.json()["state"]) == (200, "closed")
    rows = {(a.action, a.patient_id, a.grant) for a in await store.list_audit(limit=10)}
    assert {
        ("read.worklist_item", "p2", "site:s1"),
        ("export.worklist_item", "p2", "site:s1"),
        ("close.worklist_item", "p2", "site:s1"),
    } <= rows


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("GET", "/fhir", None),
        ("POST", "/claim", None),
        ("POST", "/notes", {"text": "seen"}),
        ("POST", "/close", {"outcome": "x", "comment": "closed by s2"}),
        ("POST", "/escalate", {"reason": "not ours"}),
    ],
)
async def test_staff_of_the_site_the_patient_moved_to_get_404_for_the_programmes_item_and_change_nothing(
    api: httpx.AsyncClient,
    kari_admitted_elsewhere: WorklistItem,
    token: TokenFactory,
    store: SqliteStore,
    method: str,
    suffix: str,
    body: dict[str, str] | None,
) -> None:
    item_id = kari_admitted_elsewhere.item_id
    listed = await api.get("/api/v1/sites/s1/worklist", headers=_s2_nurse(token))
    refused = await api.request(method, f"/api/v1/worklist/{item_id}{suffix}", json=body, headers=_s2_nurse(token))
    unknown = await api.request(method, f"/api/v1/worklist/no-such-item{suffix}", json=body, headers=_s2_nurse(token))

    assert listed.status_code == 404
    assert (refused.status_code, refused.json()) == (404, {"detail": f"Worklist item {item_id} not found"})
    assert unknown.json() == {"detail": "Worklist item no-such-item not found"}
    item, history = await store.worklist_item(item_id)
    assert (item.state, item.owner, item.alert_id, [e.action for e in history]) == (
        WorklistState.OPEN, None, None, ["opened"],
    )  # fmt: skip
    (row,) = [a for a in await store.list_audit(limit=5) if a.subject == item_id]
    assert (row.user_id, row.action.startswith("denied."), row.patient_id, row.grant) == ("nurse-bea", True, "p2", "")
