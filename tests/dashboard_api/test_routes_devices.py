"""Technicians register devices (credentials shown once), rotate, revoke, pair, unpair and list them, for their
sites only."""

from __future__ import annotations

from datetime import timedelta

import httpx

from core.store.sqlite import SqliteStore
from core.types import AlertKind, AlertSeverity, Parameter, Reading, Role
from devices.credentials import verify_password
from tests.dashboard_api.conftest import NOW, Seeded, TokenFactory, auth


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


async def test_register_a_device_shows_its_credentials_once(
    api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore
) -> None:
    body = {"device_id": "therm-7", "site_id": "s1", "kind": "thermometer", "model": "Therm 2", "serial": "T2-001",
            "firmware": "1.4", "calibration_due_at": "2025-09-01T00:00:00Z"}  # fmt: skip
    response = await api.post("/api/v1/devices", json=body, headers=_tech(token))
    assert response.status_code == 201
    created = response.json()
    card, credentials = created["device"], created["credentials"]
    assert (card["device_id"], card["kind"], card["serial"], card["lifecycle"]) == (
        "therm-7", "thermometer", "T2-001", "registered"
    )  # fmt: skip
    assert (card["measurement"], card["expected_interval_s"], card["vitals"]) == ("spot_check", 21600, ["temperature"])
    assert (card["registered_at"], card["credential_issued_at"]) == ("2025-01-15T08:00:00Z", "2025-01-15T08:00:00Z")
    assert (credentials["username"], credentials["expires_at"]) == ("therm-7", "2026-01-15T08:00:00Z")
    assert verify_password(credentials["password"], (await store.current_device_hashes())["therm-7"])
    shown = await api.get("/api/v1/devices/therm-7", headers=_tech(token))
    assert shown.status_code == 200 and credentials["password"] not in shown.text  # never shown again
    assert [e["event"] for e in shown.json()["history"]] == ["registered"]
    [entry] = await store.list_audit(limit=5)
    assert (entry.user_id, entry.action, entry.subject) == ("tech-tom", "register.device", "therm-7")


async def test_register_validates_the_body(api: httpx.AsyncClient, token: TokenFactory) -> None:
    good = {"device_id": "x", "site_id": "s1", "kind": "thermometer", "model": "T", "serial": "S"}
    for field, value in (("device_id", "a/b"), ("kind", "toaster"), ("serial", ""),
                         ("calibration_due_at", "2025-09-01T00:00:00")):  # fmt: skip
        response = await api.post("/api/v1/devices", json=good | {field: value}, headers=_tech(token))
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", field]
    response = await api.post("/api/v1/devices", json=good | {"device_id": "vaktrom-api-1"}, headers=_tech(token))
    assert response.status_code == 422 and "vaktrom-api-1" in response.json()["detail"]


async def test_registering_a_taken_id_is_409(api: httpx.AsyncClient, token: TokenFactory) -> None:
    body = {"device_id": "mon-1", "site_id": "s1", "kind": "thermometer", "model": "T", "serial": "S"}
    response = await api.post("/api/v1/devices", json=body, headers=_tech(token))
    assert response.status_code == 409
    assert response.json()["detail"] == (
        "Device mon-1 is already registered (at site s1); rotate its credentials to issue new ones"
    )


async def test_rotate_and_revoke_are_audited_and_change_the_stored_credential(
    api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore
) -> None:
    body = {"device_id": "ox-1", "site_id": "s1", "kind": "pulse_oximeter", "model": "Nonin", "serial": "N1"}
    first = (await api.post("/api/v1/devices", json=body, headers=_tech(token))).json()["credentials"]["password"]
    rotated = await api.post("/api/v1/devices/ox-1/rotate", headers=_tech(token))
    assert rotated.status_code == 200 and rotated.json()["password"] != first
    current = (await store.current_device_hashes())["ox-1"]
    assert verify_password(rotated.json()["password"], current) and not verify_password(first, current)
    revoked = await api.post("/api/v1/devices/ox-1/revoke", headers=_tech(token))
    assert revoked.status_code == 200 and revoked.json()["lifecycle"] == "revoked"
    assert revoked.json()["credential_issued_at"] is None and "ox-1" not in await store.current_device_hashes()
    refused = await api.post("/api/v1/devices/ox-1/pair", json={"patient_id": "p1"}, headers=_tech(token))
    assert refused.status_code == 409 and "revoked" in refused.json()["detail"]
    audit = await store.list_audit(limit=5)
    assert [(a.action, a.subject) for a in audit][:3] == [
        ("revoke.device", "ox-1"), ("rotate.device", "ox-1"), ("register.device", "ox-1")
    ]  # fmt: skip


async def test_onboarding_is_for_technicians_of_the_devices_site(api: httpx.AsyncClient, token: TokenFactory) -> None:
    nurse = auth(token(Role.NURSE, ("s1",)))
    assert (await api.post("/api/v1/devices/mon-1/rotate", headers=nurse)).status_code == 403
    other_site = auth(token(Role.TECHNICIAN, ("s2",), user="tech-tor"))
    response = await api.post("/api/v1/devices/mon-1/revoke", headers=other_site)
    assert response.status_code == 403 and response.json() == {"detail": "Your token does not grant access to site s1"}


async def test_a_backdated_unpairing_past_an_attributed_reading_is_409(
    api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore
) -> None:
    await api.post("/api/v1/devices/mon-9/pair", json={"patient_id": "p1"}, headers=_tech(token))
    await store.append([Reading("mon-9", "p1", Parameter.PULSE, 70.0, measured_at=NOW, received_at=NOW)], [])
    earlier = (NOW - timedelta(minutes=5)).isoformat()
    response = await api.post("/api/v1/devices/mon-9/unpair", json={"at": earlier}, headers=_tech(token))
    assert response.status_code == 409
    assert "already attributed; a backdated change may not re-attribute them" in response.json()["detail"]
    assert (await store.pairings_of_devices(["mon-9"]))["mon-9"][-1].end_at is None


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
    assert [(a.action, a.subject, a.patient_id) for a in audit] == [
        ("unpair.device", "p1", "p1"), ("pair.device", "p1", "p1")
    ]  # fmt: skip


async def test_pairing_an_unknown_device_is_404(api: httpx.AsyncClient, token: TokenFactory) -> None:
    response = await api.post("/api/v1/devices/ghost/pair", json={"patient_id": "p1"}, headers=_tech(token))
    assert response.status_code == 404
    assert response.json() == {"detail": "Device ghost not found"}


async def test_a_technician_acknowledges_only_a_device_alert_of_that_device(
    live_api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore, seeded: Seeded
) -> None:
    clinical = await live_api.post(f"/api/v1/devices/mon-1/alerts/{seeded.alert_id}/ack", headers=_tech(token))
    assert clinical.status_code == 404  # a NEWS2 alert is the nurses', whichever device
    assert clinical.json() == {"detail": f"Device mon-1 has no alert {seeded.alert_id}"}
    raised = await store.raise_alert(patient_id="p1", device_id="mon-1", ward_id="w1", kind=AlertKind.DEVICE_SILENT,
                                     severity=AlertSeverity.LOW_MEDIUM, message="silent", at=NOW)  # fmt: skip
    alert_id = raised.alert.alert_id
    acked = await live_api.post(f"/api/v1/devices/mon-1/alerts/{alert_id}/ack", headers=_tech(token))
    assert acked.status_code == 200 and acked.json()["alert_state"] == "acknowledged"
    again = await live_api.post(f"/api/v1/devices/mon-1/alerts/{alert_id}/ack", headers=_tech(token))
    assert again.status_code == 409
    [entry] = [a for a in await store.list_audit(limit=5) if a.action == "ack.device_alert"]
    assert (entry.user_id, entry.subject, entry.detail) == ("tech-tom", str(alert_id), "device mon-1")
    assert entry.patient_id == "p1"  # the patient's access report shows the technician acknowledged their alert
