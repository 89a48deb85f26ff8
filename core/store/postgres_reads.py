"""The reads ingest makes for every batch and every scoring cycle, by hand on PostgreSQL's driver connection.

At 1000 beds x 1 pack/s ingest makes ~20 of each per second (stays, latest values, pairings, and which patients
have an alert to decide on). Through SQLAlchemy (statement built, cache key, greenlet, row objects with a type
processor per column) a 50-80 row read cost ~3-5 ms of ingest's CPU on the machine of 2026-12-06; the same SQL run
by psycopg, prepared, with the rows turned into domain types directly, costs ~1 ms. Each function returns exactly
what its SQLAlchemy twin in the query modules returns (a property test holds the two equal on PostgreSQL); SQLite
keeps the twins.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg

from core.store.columns import require_utc
from core.types import PARAMETER_OF, AlertKind, AlertState, CareSetting, LatestValue, Pairing, Parameter, Stay

__all__ = ["latest_values", "pairings_of_devices", "patients_with_unresolved", "stays_of_patients"]

Driver = psycopg.AsyncConnection[Any]

_STAYS = (
    "SELECT stay_id, patient_id, ward_id, setting, start_at, bed_id, end_at, admitted_at FROM stays"
    " WHERE patient_id = ANY(%s::text[]) AND start_at <= %s AND (end_at IS NULL OR end_at > %s)"
    " ORDER BY start_at, stay_id"
)
_LATEST_VALUES = (
    "SELECT patient_id, parameter, value, measured_at, device_id FROM latest_values WHERE patient_id = ANY(%s::text[])"
)
_PAIRINGS = (
    "SELECT device_id, patient_id, start_at, bed_id, end_at FROM pairings WHERE device_id = ANY(%s::text[])"
    " ORDER BY start_at, id"
)
_WITH_UNRESOLVED = (
    "SELECT patient_id FROM alerts WHERE patient_id = ANY(%(ids)s::text[]) AND kind = ANY(%(kinds)s::text[])"
    " AND state = ANY(%(states)s::text[])"
    " UNION SELECT patient_id FROM pending_alerts WHERE patient_id = ANY(%(ids)s::text[])"
    " AND kind = ANY(%(kinds)s::text[])"
)
_UNRESOLVED_STATES = [AlertState.OPEN.value, AlertState.ACKNOWLEDGED.value]
_SETTING_OF = {setting.value: setting for setting in CareSetting}


async def stays_of_patients(pg: Driver, patient_ids: Sequence[str], *, at: datetime) -> dict[str, Stay]:
    """Each patient's stay open at `at` (the latest started, should two overlap)."""
    at = require_utc(at)
    cursor = await pg.execute(_STAYS, (list(patient_ids), at, at))
    return {
        patient_id: Stay(
            stay_id,
            patient_id,
            ward_id,
            _SETTING_OF[setting],
            _utc(start_at),
            bed_id=bed_id,
            end_at=_utc_or_none(end_at),
            admitted_at=_utc_or_none(admitted_at),
        )
        for stay_id, patient_id, ward_id, setting, start_at, bed_id, end_at, admitted_at in await cursor.fetchall()
    }


async def latest_values(pg: Driver, patient_ids: Sequence[str]) -> dict[str, dict[Parameter, LatestValue]]:
    cursor = await pg.execute(_LATEST_VALUES, (list(patient_ids),))
    result: dict[str, dict[Parameter, LatestValue]] = {}
    for patient_id, name, value, measured_at, device_id in await cursor.fetchall():
        parameter = PARAMETER_OF[name]
        value_now = LatestValue(parameter, float(value), _utc(measured_at), device_id)
        result.setdefault(patient_id, {})[parameter] = value_now
    return result


async def pairings_of_devices(pg: Driver, device_ids: Sequence[str]) -> dict[str, list[Pairing]]:
    """Every pairing of each device, oldest first."""
    cursor = await pg.execute(_PAIRINGS, (list(device_ids),))
    result: dict[str, list[Pairing]] = {}
    for device_id, patient_id, start_at, bed_id, end_at in await cursor.fetchall():
        pairing = Pairing(device_id, patient_id, _utc(start_at), bed_id=bed_id, end_at=_utc_or_none(end_at))
        result.setdefault(device_id, []).append(pairing)
    return result


async def patients_with_unresolved(pg: Driver, patient_ids: Sequence[str], *, kinds: Sequence[AlertKind]) -> set[str]:
    """Those of these patients with an unresolved alert or a pending condition of one of these kinds."""
    params = {"ids": list(patient_ids), "kinds": [kind.value for kind in kinds], "states": _UNRESOLVED_STATES}
    cursor = await pg.execute(_WITH_UNRESOLVED, params)
    return {patient_id for (patient_id,) in await cursor.fetchall()}


def _utc(at: datetime) -> datetime:
    # The session's time zone is UTC (postgres.py sets it on connect), so this only swaps in datetime.UTC as the
    # tzinfo the SQLAlchemy reads give; it costs nothing when it is that already.
    return at if at.tzinfo is UTC else at.astimezone(UTC)


def _utc_or_none(at: datetime | None) -> datetime | None:
    return None if at is None else _utc(at)
