"""The administration API as an admin uses it, on SQLite and PostgreSQL: every operation, every refusal naming the
field, nothing half-written after a refused call (rows read back), every change audited, the national identity
number only in bodies and only for an admin."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from alerts.timers import fire_due_timers
from core.store import Store
from core.store.postgres import PostgresStore
from core.store.sqlite import SqliteStore
from core.types import AlertKind, AlertState, Device, DeviceKind, Pairing, Role, User
from dashboard_api.app import create_app
from dashboard_api.auth import issue_token
from dashboard_api.live import LiveHub
from tests.dashboard_api.conftest import NOW, SECRET, FixedClock, auth, offline_client

NUMBER = "01017012343"  # a valid fødselsnummer made up for tests (tests/core/test_national_id.py)
OTHER_NUMBER = "41017012337"  # the same date as a D-number
TOKEN_TTL_S = 30 * 24 * 3600  # the tests move the clock on by days


@dataclass
class Admin:
    client: httpx.AsyncClient
    store: Store
    clock: FixedClock
    headers: dict[str, str]

    def token(self, role: Role, sites: tuple[str, ...], user: str = "admin-eva") -> dict[str, str]:
        return auth(
            issue_token(SECRET, user_id=user, role=role, site_ids=list(sites), ttl_s=TOKEN_TTL_S, now=self.clock())
        )

    async def post(self, path: str, body: object = None, **kwargs: object) -> httpx.Response:
        return await self.client.post(f"/api/v1/admin{path}", json=body, headers=kwargs.get("headers", self.headers))

    async def patch(self, path: str, body: object) -> httpx.Response:
        return await self.client.patch(f"/api/v1/admin{path}", json=body, headers=self.headers)

    async def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.get(f"/api/v1/admin{path}", headers=headers or self.headers)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
async def admin(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Admin]:
    store: Store = (
        SqliteStore(tmp_path / "vaktrom.sqlite3")
        if request.param == "sqlite"
        else PostgresStore(request.getfixturevalue("postgres_dsn"))
    )
    await store.open()
    clock = FixedClock(NOW)
    for user_id, roles in (("admin-eva", (Role.ADMIN,)), ("admin-ola", (Role.ADMIN,)), ("nurse-kari", tuple(Role))):
        await store.add_user(User(user_id, user_id, roles, "Testkommune", ("*", "kad", "sy", "hjemme"), NOW))
    client = offline_client()
    app = create_app(
        store=store, auth_secret=SECRET, live=LiveHub(client, topic_root="t/v1"), publisher=client, clock=clock
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://vaktrom.test") as http:
        token = issue_token(SECRET, user_id="admin-eva", role=Role.ADMIN, site_ids=["*"], ttl_s=TOKEN_TTL_S, now=NOW)
        yield Admin(http, store, clock, auth(token))
    await store.close()


async def _unit(admin: Admin) -> None:
    for site_id, kind in (("kad", "kad"), ("sy", "sykestue"), ("hjemme", "home_programme")):
        assert (
            await admin.post("/sites", {"site_id": site_id, "name": site_id.upper(), "kind": kind})
        ).status_code == 201
    for ward_id, site_id in (("kad-w", "kad"), ("sy-w", "sy"), ("home-w", "hjemme")):
        assert (
            await admin.post("/wards", {"ward_id": ward_id, "site_id": site_id, "name": ward_id})
        ).status_code == 201
    for bed_id, ward_id in (("k1", "kad-w"), ("k2", "kad-w"), ("s1", "sy-w")):
        assert (await admin.post("/beds", {"bed_id": bed_id, "ward_id": ward_id, "label": bed_id})).status_code == 201
    for patient_id in ("p1", "p2"):
        body = {"patient_id": patient_id, "display_name": f"Test {patient_id}"}
        assert (await admin.post("/patients", body)).status_code == 201


async def test_sites_wards_and_beds_are_created_renamed_and_retired_and_each_change_is_audited(admin: Admin) -> None:
    await _unit(admin)

    renamed = await admin.patch("/beds/k2", {"label": "Seng 2"})
    retired = await admin.post("/beds/k2/retire")
    listed = await admin.get("/beds?ward_id=kad-w")
    everything = await admin.get("/beds?ward_id=kad-w&include_retired=true")

    assert renamed.json() == {"bed_id": "k2", "ward_id": "kad-w", "label": "Seng 2", "retired_at": None}
    assert retired.status_code == 200
    assert retired.json()["retired_at"] == "2025-01-15T08:00:00Z"
    assert [b["bed_id"] for b in listed.json()] == ["k1"]
    assert [b["bed_id"] for b in everything.json()] == ["k1", "k2"]
    nurse = admin.token(Role.NURSE, ("kad",), user="nurse-kari")
    board = await admin.client.get("/api/v1/wards/kad-w", headers=nurse)
    assert [b["bed_id"] for b in board.json()["beds"]] == ["k1"]  # a retired bed leaves the board
    await admin.post("/wards/sy-w/retire")
    pickers = await admin.client.get("/api/v1/sites/sy/wards", headers=admin.token(Role.NURSE, ("sy",), "nurse-kari"))
    assert pickers.json() == []  # and a retired ward the ward picker
    assert (await admin.patch("/wards/kad-w", {"name": "KAD/ØHD"})).json()["name"] == "KAD/ØHD"
    assert (await admin.patch("/sites/kad", {"name": "Hammerfest KAD"})).json() == {
        "site_id": "kad", "name": "Hammerfest KAD", "kind": "kad", "retired_at": None,
    }  # fmt: skip
    rows = reversed(await admin.store.list_audit(limit=100))
    actions = [(e.action, e.subject) for e in rows if e.action.startswith("admin.") and e.subject != "sy-w"]
    assert ("admin.create.site", "kad") in actions
    assert actions[-4:] == [
        ("admin.rename.bed", "k2"), ("admin.retire.bed", "k2"), ("admin.rename.ward", "kad-w"),
        ("admin.rename.site", "kad"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/sites", {"site_id": "bad id", "name": "X", "kind": "kad"}, "site_id"),
        ("/sites", {"site_id": "x", "name": "", "kind": "kad"}, "name"),
        ("/sites", {"site_id": "x", "name": "X", "kind": "hospital"}, "kind"),
        ("/wards", {"ward_id": "x", "site_id": "kad", "name": "X", "beds": 4}, "beds"),
        ("/beds", {"bed_id": "x", "ward_id": "kad-w"}, "label"),
        ("/patients", {"patient_id": "p9", "display_name": "X", "national_id": "01017012344"}, "national_id"),
        ("/patients", {"patient_id": "p9", "display_name": "X", "birth_year": 1700}, "birth_year"),
        ("/patients/p1/admit", {"bed_id": "k1", "at": "2025-01-15T08:00:00"}, "at"),
    ],
)
async def test_a_malformed_body_is_refused_with_422_naming_the_field_and_writes_nothing(
    admin: Admin, path: str, body: dict[str, object], field: str
) -> None:
    await _unit(admin)
    before = len(await admin.store.list_audit(limit=1000))

    response = await admin.post(path, body)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"][-1] == field
    assert "01017012344" not in response.text
    assert len(await admin.store.list_audit(limit=1000)) == before
    assert [s.site_id for s in await admin.store.list_sites()] == ["hjemme", "kad", "sy"]
    with pytest.raises(Exception, match="patient"):
        await admin.store.get_patient("p9")


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "detail"),
    [
        ("post", "/sites", {"site_id": "kad", "name": "Again", "kind": "kad"}, 409,
         "site_id: site kad exists already; rename it or choose another id"),
        ("post", "/wards", {"ward_id": "w9", "site_id": "nowhere", "name": "X"}, 404, "site_id: no site 'nowhere'"),
        ("post", "/beds", {"bed_id": "b9", "ward_id": "nowhere", "label": "X"}, 404, "ward_id: no ward 'nowhere'"),
        ("patch", "/beds/nowhere", {"label": "X"}, 404, "bed_id: no bed 'nowhere'"),
        ("post", "/beds/k1/retire", None, 409,
         "bed_id: bed k1 has current stays: {stay} (patient p1); discharge or transfer them first"),
        ("post", "/wards/kad-w/retire", None, 409,
         "ward_id: ward kad-w has current stays: {stay} (patient p1); discharge or transfer them first"),
        ("post", "/sites/kad/retire", None, 409,
         "site_id: site kad has current stays: {stay} (patient p1); discharge or transfer them first"),
        ("post", "/patients/p2/admit", {"bed_id": "k1"}, 409, "bed_id: bed k1 is taken: stay {stay} of patient p1"),
        ("post", "/patients/p1/admit", {"bed_id": "k2"}, 409,
         "patient_id: patient p1 already has a current stay ({stay}, bed k1 in ward kad-w); transfer or discharge "
         "them first"),
        ("post", "/patients/p2/admit", {"bed_id": "nowhere"}, 404, "bed_id: no bed 'nowhere'"),
        ("post", "/patients/p9/admit", {"bed_id": "k2"}, 404, "patient_id: no patient 'p9'"),
        ("post", "/patients/p2/transfer", {"bed_id": "k2"}, 409, "patient_id: patient p2 has no current stay"),
        ("post", "/patients/p1/transfer", {"bed_id": "k1"}, 409, "bed_id: patient p1 is in bed k1 already"),
        ("post", "/patients/p2/discharge", None, 409, "patient_id: patient p2 has no current stay"),
        ("post", "/patients/p1/end-home", None, 409, "patient_id: patient p1's current stay is bedside: use discharge"),
        ("post", "/patients/p2/enrol", {"ward_id": "kad-w"}, 409,
         "ward_id: ward kad-w is at a kad site, not a home programme"),
        ("post", "/patients/p2/admit", {"bed_id": "k2", "at": "2025-01-15T09:00:00Z"}, 422,
         "at: 2025-01-15T09:00:00+00:00 is in the future"),
        ("post", "/patients", {"patient_id": "p2", "display_name": "Again"}, 409,
         "patient_id: patient p2 exists already; rename it or choose another id"),
    ],
)  # fmt: skip
async def test_a_refused_change_names_the_field_and_the_conflict_and_writes_nothing(
    admin: Admin, method: str, path: str, body: object, status: int, detail: str
) -> None:
    await _unit(admin)
    admitted = await admin.post("/patients/p1/admit", {"bed_id": "k1"})
    stay_id = admitted.json()["started"]["stay_id"]
    before = await admin.store.list_audit(limit=1000)

    response = await getattr(admin, method)(path, body)

    assert (response.status_code, response.json()) == (status, {"detail": detail.format(stay=stay_id)})
    assert await admin.store.list_audit(limit=1000) == before
    assert [s.stay_id for s in await admin.store.stay_history("p1")] == [stay_id]
    assert await admin.store.stay_history("p2") == []
    assert [b.bed_id for b in await admin.store.list_beds("kad-w")] == ["k1", "k2"]
    assert [w.ward_id for w in await admin.store.list_wards()] == ["home-w", "kad-w", "sy-w"]
    assert len(await admin.store.list_sites()) == 3
    assert (await admin.store.get_patient("p2")).display_name == "Test p2"


async def test_a_patient_with_a_national_id_shows_it_to_an_admin_only_in_the_body_and_never_in_the_audit(
    admin: Admin,
) -> None:
    created = await admin.post("/patients", {"patient_id": "p3", "display_name": "Test p3", "national_id": NUMBER})
    duplicate = await admin.post("/patients", {"patient_id": "p4", "display_name": "X", "national_id": NUMBER})
    read = await admin.get("/patients/p3")
    changed = await admin.patch("/patients/p3", {"national_id": OTHER_NUMBER, "birth_year": 1970})
    nurse = await admin.get("/patients/p3", headers=admin.token(Role.NURSE, ("kad",), user="nurse-kari"))

    assert created.status_code == 201
    assert created.json()["national_id"] == NUMBER
    assert duplicate.json() == {"detail": "national_id: this number is already registered to patient p3"}
    with pytest.raises(Exception, match="patient"):
        await admin.store.get_patient("p4")
    assert read.json() == {
        "patient_id": "p3", "display_name": "Test p3", "birth_year": None, "national_id": NUMBER, "current_stay": None,
    }  # fmt: skip
    assert (changed.json()["national_id"], changed.json()["birth_year"]) == (OTHER_NUMBER, 1970)
    assert nurse.status_code == 403
    assert NUMBER not in nurse.text
    rows = await admin.store.list_audit(limit=100)
    assert [(e.action, e.subject, e.detail) for e in reversed(rows) if e.subject == "p3"] == [
        ("admin.create.patient", "p3", "national id recorded"),
        ("admin.read.patient", "p3", "national id shown"),
        ("admin.change.patient", "p3", "changed: birth_year, national id"),
    ]
    assert all(NUMBER not in f"{e}" and OTHER_NUMBER not in f"{e}" for e in rows)
    assert {e.patient_id for e in rows if e.subject == "p3"} == {"p3"}  # each row names the patient


async def test_admit_transfer_and_discharge_move_the_patient_and_the_beds_devices_and_keep_the_history(
    admin: Admin,
) -> None:
    await _unit(admin)
    await admin.store.register_device(Device("mon-k2", "kad", DeviceKind.BEDSIDE_MONITOR, "M", NOW - timedelta(days=9)))
    earlier = NOW - timedelta(days=2)
    await admin.post("/patients/p2/admit", {"bed_id": "k2", "at": earlier.isoformat()})
    await admin.store.pair_device(Pairing("mon-k2", "p2", earlier, bed_id="k2"))
    await admin.post("/patients/p2/discharge")  # mon-k2 stays at bed k2

    admitted = await admin.post("/patients/p1/admit", {"bed_id": "k1"})
    admin.clock.advance(3600)
    moved = await admin.post("/patients/p1/transfer", {"bed_id": "k2"})
    admin.clock.advance(3600)
    left = await admin.post("/patients/p1/discharge")
    history = await admin.get("/patients/p1/stays")

    assert admitted.status_code == 200
    first = admitted.json()["started"]
    assert (first["bed_id"], first["start_at"], first["admitted_at"]) == (
        "k1",
        "2025-01-15T08:00:00Z",
        "2025-01-15T08:00:00Z",
    )
    body = moved.json()
    assert (body["ended"]["stay_id"], body["ended"]["end_at"]) == (first["stay_id"], "2025-01-15T09:00:00Z")
    assert (body["started"]["bed_id"], body["started"]["start_at"]) == ("k2", "2025-01-15T09:00:00Z")
    assert body["started"]["admitted_at"] == "2025-01-15T08:00:00Z"  # KAD to KAD: the length of stay carries on
    assert body["devices_paired"] == ["mon-k2"]
    assert left.status_code == 200, left.text
    assert left.json()["devices_unpaired"] == ["mon-k2"]
    assert [(s["bed_id"], s["start_at"], s["end_at"]) for s in history.json()] == [
        ("k1", "2025-01-15T08:00:00Z", "2025-01-15T09:00:00Z"),
        ("k2", "2025-01-15T09:00:00Z", "2025-01-15T10:00:00Z"),
    ]
    stays = [(e.action, e.subject) for e in reversed(await admin.store.list_audit(limit=100)) if e.subject == "p1"]
    assert stays[-4:] == [("admin.admit", "p1"), ("admin.transfer", "p1"), ("admin.discharge", "p1"),
                          ("admin.read.stays", "p1")]  # fmt: skip


async def test_enrolment_at_home_and_its_end(admin: Admin) -> None:
    await _unit(admin)

    enrolled = await admin.post("/patients/p2/enrol", {"ward_id": "home-w"})
    ended = await admin.post("/patients/p2/end-home")

    assert enrolled.json()["started"]["setting"] == "home"
    assert ended.json()["ended"]["end_at"] == "2025-01-15T08:00:00Z"
    assert await admin.store.stays_of_patients(["p2"], at=NOW + timedelta(seconds=1)) == {}


async def test_only_an_admin_may_administer_and_another_sites_places_answer_like_unknown_ones(admin: Admin) -> None:
    await _unit(admin)
    await admin.post("/patients/p1/admit", {"bed_id": "s1"})
    nurse = admin.token(Role.NURSE, ("kad",), user="nurse-kari")
    kad_admin = admin.token(Role.ADMIN, ("kad",), user="admin-ola")

    refused = await admin.post("/beds", {"bed_id": "k9", "ward_id": "kad-w", "label": "K9"}, headers=nurse)
    other_site = await admin.post("/beds/s1/retire", headers=kad_admin)
    other_patient = await admin.get("/patients/p1", headers=kad_admin)
    new_site = await admin.post("/sites", {"site_id": "x", "name": "X", "kind": "kad"}, headers=kad_admin)
    own = await admin.post("/beds", {"bed_id": "k9", "ward_id": "kad-w", "label": "K9"}, headers=kad_admin)

    assert refused.status_code == 403
    assert "needs one of: admin" in refused.json()["detail"]
    assert (other_site.status_code, other_site.json()) == (404, {"detail": "bed_id: no bed 's1'"})
    assert (other_patient.status_code, other_patient.json()) == (404, {"detail": "patient_id: no patient 'p1'"})
    assert new_site.status_code == 403
    assert own.status_code == 201
    assert (await admin.store.get_bed("s1")).retired_at is None


async def test_a_kad_stay_past_72_hours_raises_a_low_priority_item_that_discharge_resolves(admin: Admin) -> None:
    await _unit(admin)
    await admin.post("/patients/p1/admit", {"bed_id": "k1"})
    admin.clock.advance(72 * 3600)

    changes = await fire_due_timers(admin.store, admin.clock)
    await admin.post("/patients/p1/discharge")

    assert [(c.alert.kind, c.alert.priority.value) for c in changes if c.alert.patient_id == "p1"][:1] == [
        (AlertKind.LENGTH_OF_STAY, "low")
    ]
    [item] = await admin.store.list_alerts(patient_ids=["p1"], states=(AlertState.RESOLVED,))
    assert (item.kind, item.resolve_reason) == (AlertKind.LENGTH_OF_STAY, "discharged")
