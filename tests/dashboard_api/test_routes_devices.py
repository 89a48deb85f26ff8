"""Technicians register, pair, unpair and list devices of their sites."""

from __future__ import annotations

import httpx

from core.store.sqlite import SqliteStore
from core.types import Role
from tests.dashboard_api.conftest import NOW, TokenFactory, auth


def _tech(token: TokenFactory) -> dict[str, str]:
    return auth(token(Role.TECHNICIAN, ("s1",), user="tech-tom"))


async def test_devices_list_with_status_pairing_and_last_reading(api: httpx.AsyncClient, token: TokenFactory) -> None:
    response = await api.get("/api/v1/devices", params={"site_id": "s1"}, headers=_tech(token))
    assert response.status_code == 200
    devices = {d["device_id"]: d for d in response.json()}
    assert sorted(devices) == ["mon-1", "mon-9"]
    mon1 = devices["mon-1"]
    assert (mon1["online"], mon1["battery_percent"], mon1["reported_at"]) == (True, 80.0, "2025-01-15T08:00:00Z")
    assert mon1["last_reading_at"] == "2025-01-15T07:59:30Z"
    assert (mon1["paired_patient_id"], mon1["paired_bed_id"]) == ("p1", "b1")
    mon9 = devices["mon-9"]
    assert (mon9["online"], mon9["last_reading_at"], mon9["paired_patient_id"]) == (None, None, None)


async def test_devices_without_a_site_lists_the_tokens_sites_only(api: httpx.AsyncClient, token: TokenFactory) -> None:
    response = await api.get("/api/v1/devices", headers=_tech(token))
    assert sorted(d["device_id"] for d in response.json()) == ["mon-1", "mon-9"]
    admin = await api.get("/api/v1/devices", headers=auth(token(Role.ADMIN, ("*",), user="root")))
    assert sorted(d["device_id"] for d in admin.json()) == ["mon-1", "mon-21", "mon-9"]


async def test_register_a_device(api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore) -> None:
    body = {"device_id": "therm-7", "site_id": "s1", "kind": "thermometer", "model": "Therm 2"}
    response = await api.post("/api/v1/devices", json=body, headers=_tech(token))
    assert response.status_code == 201
    created = response.json()
    assert (created["device_id"], created["kind"], created["registered_at"]) == (
        "therm-7",
        "thermometer",
        "2025-01-15T08:00:00Z",
    )
    assert (await store.get_device("therm-7")).model == "Therm 2"
    [entry] = await store.list_audit(limit=5)
    assert (entry.user_id, entry.action, entry.subject) == ("tech-tom", "register.device", "therm-7")


async def test_register_validates_the_body(api: httpx.AsyncClient, token: TokenFactory) -> None:
    bad_id = {"device_id": "a/b", "site_id": "s1", "kind": "thermometer", "model": "T"}
    response = await api.post("/api/v1/devices", json=bad_id, headers=_tech(token))
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "device_id"]
    bad_kind = {"device_id": "x", "site_id": "s1", "kind": "toaster", "model": "T"}
    response = await api.post("/api/v1/devices", json=bad_kind, headers=_tech(token))
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "kind"]


async def test_registering_an_id_taken_as_another_kind_is_409(api: httpx.AsyncClient, token: TokenFactory) -> None:
    body = {"device_id": "mon-1", "site_id": "s1", "kind": "thermometer", "model": "T"}
    response = await api.post("/api/v1/devices", json=body, headers=_tech(token))
    assert response.status_code == 409
    assert "already registered as a bedside_monitor" in response.json()["detail"]


async def test_pair_and_unpair_a_device(api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore) -> None:
    response = await api.post("/api/v1/devices/mon-9/pair", json={"patient_id": "p1"}, headers=_tech(token))
    assert response.status_code == 200
    assert response.json() == {
        "device_id": "mon-9",
        "patient_id": "p1",
        "bed_id": "b1",
        "start_at": "2025-01-15T08:00:00Z",
        "end_at": None,
    }
    [pairing] = (await store.pairings_of_devices(["mon-9"]))["mon-9"]
    assert (pairing.patient_id, pairing.start_at, pairing.end_at) == ("p1", NOW, None)
    unpaired = await api.post("/api/v1/devices/mon-9/unpair", headers=_tech(token))
    assert unpaired.status_code == 200
    assert unpaired.json()["end_at"] == "2025-01-15T08:00:00Z"
    again = await api.post("/api/v1/devices/mon-9/unpair", headers=_tech(token))
    assert again.status_code == 409
    assert again.json() == {"detail": "Device mon-9 is not paired to any patient"}
    audit = await store.list_audit(limit=5)
    assert [(a.action, a.subject) for a in audit] == [("unpair.device", "p1"), ("pair.device", "p1")]


async def test_pairing_to_another_sites_patient_is_409(api: httpx.AsyncClient, token: TokenFactory) -> None:
    response = await api.post("/api/v1/devices/mon-9/pair", json={"patient_id": "p3"}, headers=_tech(token))
    assert response.status_code == 409
    assert response.json()["detail"].startswith("Device mon-9 belongs to site s1, but patient p3 is in ward w2")


async def test_pairing_an_unknown_device_is_404(api: httpx.AsyncClient, token: TokenFactory) -> None:
    response = await api.post("/api/v1/devices/ghost/pair", json={"patient_id": "p1"}, headers=_tech(token))
    assert response.status_code == 404
    assert response.json() == {"detail": "Device ghost not found"}
