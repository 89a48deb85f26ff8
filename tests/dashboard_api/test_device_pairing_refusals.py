"""What a technician is told when a pairing is refused: nothing about another site's patients, and a time in the
future named with the server's own time."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from core.store.sqlite import SqliteStore
from core.types import Role
from tests.dashboard_api.conftest import NOW, TokenFactory, auth


def _tech(token: TokenFactory) -> dict[str, str]:
    return auth(token(Role.TECHNICIAN, ("s1",), user="tech-tom"))


@pytest.mark.parametrize("patient_id", ["p3", "p-nobody"], ids=["a patient of site s2", "no such patient"])
async def test_pairing_to_another_sites_patient_reads_as_pairing_to_an_unknown_one(
    api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore, patient_id: str
) -> None:
    response = await api.post("/api/v1/devices/mon-9/pair", json={"patient_id": patient_id}, headers=_tech(token))
    assert (response.status_code, response.json()) == (
        409,
        {
            "detail": f"Patient {patient_id} has no stay open at site s1 at 2025-01-15T08:00:00+00:00; check the "
            "patient id, or admit or enrol the patient first"
        },
    )
    assert (await store.pairings_of_devices(["mon-9"])).get("mon-9", []) == []


async def test_pairing_dated_an_hour_ahead_is_refused_naming_the_servers_time(
    api: httpx.AsyncClient, token: TokenFactory, store: SqliteStore
) -> None:
    ahead = {"patient_id": "p1", "at": "2025-01-15T09:00:00+00:00"}  # local time sent with a UTC offset of 0
    response = await api.post("/api/v1/devices/mon-9/pair", json=ahead, headers=_tech(token))
    assert (response.status_code, response.json()) == (
        409,
        {
            "detail": "Device mon-9 cannot be paired from 2025-01-15T09:00:00+00:00: that is in the future (now is "
            "2025-01-15T08:00:00+00:00); check the time and its UTC offset"
        },
    )
    assert (await store.pairings_of_devices(["mon-9"])).get("mon-9", []) == []
    within_skew = {"patient_id": "p1", "at": (NOW + timedelta(seconds=60)).isoformat()}
    accepted = await api.post("/api/v1/devices/mon-9/pair", json=within_skew, headers=_tech(token))
    assert (accepted.status_code, accepted.json()["start_at"]) == (200, "2025-01-15T08:01:00Z")
