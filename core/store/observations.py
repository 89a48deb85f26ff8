"""Readings and dead letters: history, latest values, hourly means, counts; and what both engines' appends share.

The append itself is each engine's hot path (`sqlite.py`, `postgres.py`): measured, hand-tuned, kept small.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa

from core.store import schema as s
from core.store.sql import SqlStore, hours_before, one_of
from core.types import PARAMETER_OF, DeadLetter, HourlyMean, LatestValue, Parameter, Reading

__all__ = [
    "DUPLICATE_REASON",
    "DUPLICATE_TOPIC",
    "ObservationQueries",
    "duplicate_dead_letter",
    "newest_per_patient_parameter",
    "split_duplicates",
]

DUPLICATE_REASON = "duplicate reading"
# A duplicate is found by the store, not read from a topic: this marks where it was refused.
DUPLICATE_TOPIC = "store/append"


def split_duplicates(readings: Sequence[Reading]) -> tuple[list[int], list[int]]:
    """Indices of (the first reading of each key, repeats of a key within the batch), key (device, parameter, time)."""
    seen: set[tuple[str, str, datetime]] = set()
    unique: list[int] = []
    repeats: list[int] = []
    for index, reading in enumerate(readings):
        key = (reading.device_id, reading.parameter.value, reading.measured_at)
        if key in seen:
            repeats.append(index)
        else:
            seen.add(key)
            unique.append(index)
    return unique, repeats


def newest_per_patient_parameter(readings: Iterable[Reading]) -> list[Reading]:
    """The newest reading per (patient, parameter); on equal times the first one wins."""
    newest: dict[tuple[str, Parameter], Reading] = {}
    for reading in readings:
        key = (reading.patient_id, reading.parameter)
        current = newest.get(key)
        if current is None or reading.measured_at > current.measured_at:
            newest[key] = reading
    return list(newest.values())


def duplicate_dead_letter(reading: Reading) -> DeadLetter:
    payload = orjson.dumps(
        {
            "device_id": reading.device_id,
            "patient_id": reading.patient_id,
            "parameter": reading.parameter.value,
            "value": reading.value,
            "measured_at": reading.measured_at.isoformat(),
        }
    )
    return DeadLetter(
        topic=DUPLICATE_TOPIC,
        payload=payload,
        reason=DUPLICATE_REASON,
        received_at=reading.received_at,
        device_id=reading.device_id,
    )


def _reading(row: Any) -> Reading:
    return Reading(
        device_id=row.device_id,
        patient_id=row.patient_id,
        parameter=Parameter(row.parameter),
        value=float(row.value),
        measured_at=row.measured_at,
        received_at=row.received_at,
    )


def _hourly_means(
    conn: sa.Connection, patient_ids: Sequence[str], until: datetime, hours: int, parameters: Sequence[Parameter]
) -> dict[str, list[HourlyMean]]:
    o = s.observations
    hours_ago = hours_before(conn, until, o.c.measured_at).label("hours_ago")
    query = (
        sa.select(o.c.patient_id, o.c.parameter, hours_ago, sa.func.avg(o.c.value), sa.func.count())
        .where(
            one_of(o.c.patient_id, patient_ids),
            o.c.measured_at > until - timedelta(hours=hours),
            o.c.measured_at <= until,
            o.c.parameter.in_([p.value for p in parameters]),
        )
        .group_by(o.c.patient_id, o.c.parameter, hours_ago)
        .order_by(o.c.patient_id, o.c.parameter, hours_ago)
    )
    means: dict[str, list[HourlyMean]] = {patient_id: [] for patient_id in patient_ids}
    for patient_id, parameter, ago, mean, n in conn.execute(query):
        means[patient_id].append(HourlyMean(PARAMETER_OF[parameter], int(ago), float(mean), int(n)))
    return means


class ObservationQueries(SqlStore):
    async def latest_values(self, patient_ids: Sequence[str]) -> dict[str, dict[Parameter, LatestValue]]:
        lv = s.latest_values
        query = sa.select(lv.c.patient_id, lv.c.parameter, lv.c.value, lv.c.measured_at, lv.c.device_id).where(
            one_of(lv.c.patient_id, patient_ids)
        )
        result: dict[str, dict[Parameter, LatestValue]] = {}
        # Every scoring cycle reads a row per patient and parameter: plain tuples and a dict lookup instead of the
        # enum's constructor (25 times slower) keep this loop a small part of a cycle.
        for patient_id, name, value, measured_at, device_id in await self._read(lambda c: c.execute(query).all()):
            parameter = PARAMETER_OF[name]
            result.setdefault(patient_id, {})[parameter] = LatestValue(parameter, float(value), measured_at, device_id)
        return result

    async def readings(
        self,
        patient_id: str,
        *,
        since: datetime,
        until: datetime,
        parameters: Sequence[Parameter] | None = None,
        limit: int = 10_000,
    ) -> list[Reading]:
        o = s.observations
        query = (
            sa.select(o)
            .where(o.c.patient_id == patient_id, o.c.measured_at.between(since, until))
            .order_by(o.c.measured_at, o.c.device_id, o.c.parameter)
            .limit(limit)
        )
        if parameters is not None:
            query = query.where(o.c.parameter.in_([p.value for p in parameters]))
        return [_reading(row) for row in await self._read(lambda c: c.execute(query).all())]

    async def hourly_means(
        self, patient_ids: Sequence[str], *, until: datetime, hours: int, parameters: Sequence[Parameter]
    ) -> dict[str, list[HourlyMean]]:
        unique = sorted(set(patient_ids))
        return await self._read(lambda c: _hourly_means(c, unique, until, hours, parameters)) if unique else {}

    async def count_readings(self) -> int:
        return await self._read(
            lambda c: int(c.execute(sa.select(sa.func.count()).select_from(s.observations)).scalar_one())
        )

    async def list_dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        d = s.dead_letters
        query = sa.select(d).order_by(d.c.received_at.desc(), d.c.id.desc()).limit(limit)
        rows = await self._read(lambda c: c.execute(query).all())
        return [DeadLetter(r.topic, bytes(r.payload), r.reason, r.received_at, r.device_id) for r in rows]

    async def count_dead_letters(self) -> int:
        return await self._read(
            lambda c: int(c.execute(sa.select(sa.func.count()).select_from(s.dead_letters)).scalar_one())
        )
