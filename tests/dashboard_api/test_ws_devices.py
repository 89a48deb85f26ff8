"""The technician's fleet stream: the whole fleet of the token's sites at once (seq 0), again with the next seq when
it changes; refused (4403) to clinical roles and for another site; never a patient's name or a clinical value."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.store.sqlite import SqliteStore
from core.types import DeviceStatus, Role
from dashboard_api import ws
from dashboard_api.auth import issue_token
from dashboard_api.ws import CloseCode
from tests.dashboard_api.conftest import SECRET, FixedClock, Served, TokenFactory
from tests.dashboard_api.test_ws import closed_with, receive, server, ward_socket

pytestmark = pytest.mark.integration

__all__ = ["server"]  # a fixture, imported for pytest

PATH = "/api/v1/devices/live"


async def test_the_fleet_of_the_tokens_sites_then_each_change(
    server: Served, token: TokenFactory, store: SqliteStore, clock: FixedClock
) -> None:
    tech = token(Role.TECHNICIAN, ("s1",), user="tech-tom")
    async with ward_socket(server, PATH, tech) as socket:
        snapshot = await receive(socket)
        assert (snapshot["type"], snapshot["seq"]) == ("fleet", 0)
        mon1 = {d["device_id"]: d for d in snapshot["devices"]}["mon-1"]
        assert sorted(d["device_id"] for d in snapshot["devices"]) == ["mon-1", "mon-9"]  # not s2's mon-21
        assert (mon1["online"], mon1["placement"], mon1["battery_percent"]) == (True, "Bed Seng 1", 80.0)
        assert "Ola" not in str(snapshot) and "vitals" not in mon1
        await store.save_device_status(DeviceStatus("mon-1", True, clock() + timedelta(seconds=1), battery_percent=9.0))
        change = await receive(socket)
        battery = {d["device_id"]: d for d in change["devices"]}["mon-1"]
        assert (change["seq"], battery["battery_percent"], battery["problems"][0]["text"]) == (1, 9.0, "Battery 9 %")
    [entry] = [a for a in await store.list_audit(limit=5) if a.action == "watch.devices"]
    assert (entry.user_id, entry.subject) == ("tech-tom", "s1")


async def test_a_fleet_that_does_not_change_sends_heartbeats_with_its_last_seq(
    server: Served, token: TokenFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws, "HEARTBEAT_S", 0.5)
    async with ward_socket(server, PATH, token(Role.TECHNICIAN, ("s1",), user="tech-tom")) as socket:
        assert (await receive(socket))["seq"] == 0
        assert await receive(socket) == {"type": "heartbeat", "seq": 0}
        assert await receive(socket) == {"type": "heartbeat", "seq": 0}


@pytest.mark.parametrize(
    ("role", "sites", "query", "reason"),
    [
        (Role.NURSE, ("s1",), "", "Role nurse may not watch devices"),
        (Role.TECHNICIAN, ("s1",), "?site_id=s2", "Your token does not grant access to site s2"),
    ],
)
async def test_refused_to_clinical_roles_and_other_sites(
    server: Served, token: TokenFactory, role: Role, sites: tuple[str, ...], query: str, reason: str
) -> None:
    async with ward_socket(server, PATH + query, token(role, sites, user="tech-tom")) as socket:
        assert await closed_with(socket) == (4403, reason)


async def test_the_fleet_closes_4410_when_its_technician_is_disabled(
    server: Served, token: TokenFactory, store: SqliteStore, clock: FixedClock
) -> None:
    async with ward_socket(server, PATH, token(Role.TECHNICIAN, ("s1",), user="tech-1")) as socket:
        assert (await receive(socket))["seq"] == 0
        await store.change_user("tech-1", at=clock(), disabled=True)
        assert await closed_with(socket) == (CloseCode.ACCESS_REVOKED, "User tech-1 is disabled; this stream is closed")


async def test_the_fleet_closes_4410_when_a_site_it_shows_is_taken_from_the_technician(
    server: Served, token: TokenFactory, store: SqliteStore, clock: FixedClock
) -> None:
    async with ward_socket(server, PATH, token(Role.TECHNICIAN, ("s1",), user="tech-1")) as socket:
        assert (await receive(socket))["seq"] == 0
        await store.change_user("tech-1", at=clock(), site_ids=["s2"])
        assert await closed_with(socket) == (CloseCode.ACCESS_REVOKED, "Access to site s1 withdrawn")


async def test_the_fleet_closes_4401_when_the_token_expires(server: Served, clock: FixedClock) -> None:
    short = issue_token(SECRET, user_id="tech-1", role=Role.TECHNICIAN, site_ids=["s1"], ttl_s=1, now=clock())
    async with ward_socket(server, PATH, short) as socket:
        assert (await receive(socket))["seq"] == 0
        assert await closed_with(socket) == (CloseCode.UNAUTHENTICATED, "Token expired; log in again")
