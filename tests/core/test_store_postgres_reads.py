"""PostgreSQL's hand-written hot reads (core/store/postgres_reads.py) return what their SQLAlchemy twins return."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.store import schema as s
from core.store.alerts import AlertQueries
from core.store.devices import DeviceQueries
from core.store.observations import ObservationQueries
from core.store.postgres import PostgresStore
from core.store.reference import ReferenceQueries
from core.types import AlertKind, AlertState, CareSetting, Parameter

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
PATIENTS = ["p0", "p1", "p2", "p3"]
DEVICES = ["d0", "d1", "d2"]

# Whole minutes, so that a stay often ends or starts exactly at the moment asked about.
_AT = st.integers(0, 240).map(lambda minutes: T0 + timedelta(minutes=minutes))
_STAYS = st.lists(
    st.fixed_dictionaries(
        {
            "patient_id": st.sampled_from(PATIENTS),
            "ward_id": st.sampled_from(["w1", "w2"]),
            "setting": st.sampled_from([c.value for c in CareSetting]),
            "start_at": _AT,
            "length": st.none() | st.integers(1, 180).map(lambda minutes: timedelta(minutes=minutes)),
            "bed_id": st.none() | st.sampled_from(["b1", "b2", "b3"]),
            "admitted_at": st.none() | _AT,
        }
    ),
    max_size=8,
)
_PAIRINGS = st.lists(
    st.tuples(
        st.sampled_from(DEVICES),
        st.sampled_from(PATIENTS),
        _AT,
        st.none() | st.integers(1, 60 * 10**6),
        st.none() | st.sampled_from(["b1", "b2"]),
    ),
    max_size=8,
)
_VALUES = st.dictionaries(
    st.tuples(st.sampled_from(PATIENTS), st.sampled_from(list(Parameter))),
    st.tuples(st.floats(-1e6, 1e6, allow_nan=False), _AT, st.sampled_from(DEVICES)),
    max_size=12,
)
_KINDS = [AlertKind.NEWS2, AlertKind.PATIENT_LIMIT, AlertKind.DEVICE_SILENT]
_ALERTS = st.lists(st.tuples(st.sampled_from(PATIENTS), st.sampled_from(_KINDS), st.sampled_from(list(AlertState))))
_PENDING = st.lists(st.tuples(st.sampled_from(PATIENTS), st.sampled_from(_KINDS)), unique=True)
_IDS = st.lists(st.sampled_from([*PATIENTS, "nobody"]), unique=True)


def _stay_rows(stays: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The generated stays as the schema allows them: one open stay per patient and per bed."""
    rows, open_patients, open_beds = [], set(), set()
    for n, stay in enumerate(stays):
        row = {k: v for k, v in stay.items() if k != "length"}
        row["stay_id"] = f"stay-{n}"
        clash = stay["patient_id"] in open_patients or stay["bed_id"] in open_beds
        length = stay["length"] or (timedelta(minutes=5) if clash else None)
        row["end_at"] = None if length is None else stay["start_at"] + length
        if row["end_at"] is None:
            open_patients.add(stay["patient_id"])
            if stay["bed_id"] is not None:
                open_beds.add(stay["bed_id"])
        rows.append(row)
    return rows


def _pairing_rows(pairings: list[tuple[str, str, datetime, int | None, str | None]]) -> list[dict[str, Any]]:
    rows, open_devices = [], set()
    for device_id, patient_id, start_at, length_us, bed_id in pairings:
        if length_us is None and device_id in open_devices:
            length_us = 60 * 10**6
        end_at = None if length_us is None else start_at + timedelta(microseconds=length_us)
        if end_at is None:
            open_devices.add(device_id)
        rows.append(
            {"device_id": device_id, "patient_id": patient_id, "start_at": start_at, "end_at": end_at, "bed_id": bed_id}
        )
    return rows


def _alert_rows(alerts: list[tuple[str, AlertKind, AlertState]]) -> list[dict[str, Any]]:
    return [
        {
            "patient_id": patient_id,
            "device_id": f"dev-{n}",  # one alert per key: at most one unresolved per patient, device and kind
            "kind": kind.value,
            "state": state.value,
            "severity": 2,
            "message": "m",
            "opened_at": T0,
            "updated_at": T0,
        }
        for n, (patient_id, kind, state) in enumerate(alerts)
    ]


def _pending_rows(pending: list[tuple[str, AlertKind]]) -> list[dict[str, Any]]:
    return [
        {"patient_id": p, "device_id": "", "kind": k.value, "severity": 2, "message": "m", "since": T0, "due_at": T0}
        for p, k in pending
    ]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    stays=_STAYS,
    pairings=_PAIRINGS,
    values=_VALUES,
    alerts=_ALERTS,
    pending=_PENDING,
    ids=_IDS,
    devices=st.lists(st.sampled_from(DEVICES)),
    kinds=st.lists(st.sampled_from(_KINDS), unique=True),
    at=_AT,
)
def test_hand_written_reads_return_what_the_sqlalchemy_queries_return(
    postgres_dsn: str,
    stays: list[dict[str, Any]],
    pairings: list[tuple[str, str, datetime, int | None, str | None]],
    values: dict[tuple[str, Parameter], tuple[float, datetime, str]],
    alerts: list[tuple[str, AlertKind, AlertState]],
    pending: list[tuple[str, AlertKind]],
    ids: list[str],
    devices: list[str],
    kinds: list[AlertKind],
    at: datetime,
) -> None:
    latest = [
        {"patient_id": p, "parameter": q.value, "value": v, "measured_at": m, "device_id": d, "received_at": m}
        for (p, q), (v, m, d) in values.items()
    ]

    async def both() -> None:
        store = PostgresStore(postgres_dsn)
        await store.open()
        try:

            def reset(conn: sa.Connection) -> None:
                tables = (
                    (s.stays, _stay_rows(stays)),
                    (s.pairings, _pairing_rows(pairings)),
                    (s.alerts, _alert_rows(alerts)),
                    (s.pending_alerts, _pending_rows(pending)),
                )
                for table, rows in tables:
                    conn.execute(sa.delete(table))
                    if rows:
                        conn.execute(sa.insert(table), rows)
                conn.execute(sa.delete(s.latest_values))
                if latest:
                    conn.execute(sa.insert(s.latest_values), latest)

            await store._write(reset)
            assert await store.stays_of_patients(ids, at=at) == await ReferenceQueries.stays_of_patients(
                store, ids, at=at
            )
            assert await store.latest_values(ids) == await ObservationQueries.latest_values(store, ids)
            assert await store.pairings_of_devices(devices) == await DeviceQueries.pairings_of_devices(store, devices)
            assert await store.patients_with_unresolved(ids, kinds=kinds) == (
                await AlertQueries.patients_with_unresolved(store, ids, kinds=kinds)
            )
        finally:
            await store.close()

    asyncio.run(both())


async def test_hand_written_reads_give_times_in_utc_as_the_other_reads_do(postgres_dsn: str) -> None:
    store = PostgresStore(postgres_dsn)
    await store.open()
    try:
        row = {"stay_id": "s", "patient_id": "p0", "ward_id": "w1", "setting": "bedside", "start_at": T0}
        await store._write(lambda c: c.execute(sa.insert(s.stays), [row]))
        stay = (await store.stays_of_patients(["p0"], at=T0))["p0"]
        assert stay.start_at.tzinfo is UTC
        assert stay.start_at.isoformat() == "2026-12-06T08:00:00+00:00"
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("asked_at", "open_stay"),
    [
        (T0 - timedelta(microseconds=1), None),  # before it started
        (T0, "first"),  # the moment it started
        (T0 + timedelta(hours=1) - timedelta(microseconds=1), "first"),
        (T0 + timedelta(hours=1), "second"),  # the first ended then and the second started: the second
        (T0 + timedelta(hours=2), None),  # the moment the second ended: no stay
    ],
)
async def test_a_stay_is_open_from_its_start_up_to_but_not_at_its_end(
    postgres_dsn: str, asked_at: datetime, open_stay: str | None
) -> None:
    store = PostgresStore(postgres_dsn)
    await store.open()
    try:
        rows = [
            {"stay_id": "first", "patient_id": "p0", "ward_id": "w1", "setting": "bedside", "start_at": T0},
            {"stay_id": "second", "patient_id": "p0", "ward_id": "w2", "setting": "home", "start_at": T0},
        ]
        rows[0]["end_at"] = T0 + timedelta(hours=1)
        rows[1] |= {"start_at": T0 + timedelta(hours=1), "end_at": T0 + timedelta(hours=2)}
        await store._write(lambda c: c.execute(sa.insert(s.stays), rows))
        found = await store.stays_of_patients(["p0"], at=asked_at)
        assert {p: stay.stay_id for p, stay in found.items()} == ({"p0": open_stay} if open_stay else {})
    finally:
        await store.close()
