"""What a patient's trend charts read, the same on SQLite and PostgreSQL: NEWS2 history and vitals in buckets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.store import ObservationBucket, Store
from core.types import ClinicalRisk, Parameter, PatientScore, Reading, SpO2Scale

T0 = datetime(2025, 3, 30, 0, 0, tzinfo=UTC)  # the night Europe/Oslo springs forward: UTC buckets do not care


def score(total: int, at: datetime, *, patient_id: str = "pat-1") -> PatientScore:
    return PatientScore(
        patient_id=patient_id,
        computed_at=at,
        total=total,
        complete=total != 4,
        risk=ClinicalRisk.HIGH if total >= 7 else ClinicalRisk.LOW,
        single_param_3=False,
        parameter_scores={Parameter.RESP_RATE: 2, Parameter.PULSE: total - 2},
        missing=() if total != 4 else (Parameter.TEMPERATURE,),
        spo2_scale=SpO2Scale.SCALE_2 if total == 5 else SpO2Scale.SCALE_1,
    )


def reading(parameter: Parameter, value: float, at: datetime, *, patient_id: str = "pat-1") -> Reading:
    return Reading("dev-1", patient_id, parameter, value, measured_at=at, received_at=at)


async def test_score_history_is_every_saved_score_in_the_window_oldest_first(store: Store) -> None:
    saved = [score(3, T0), score(5, T0 + timedelta(minutes=1)), score(7, T0 + timedelta(hours=2))]
    # Saved out of order, and another patient's: history is by computed_at and by patient.
    await store.save_scores([saved[2], score(9, T0 + timedelta(minutes=5), patient_id="pat-2")])
    await store.save_scores([saved[0], saved[1], score(4, T0 - timedelta(seconds=1))])

    history = await store.score_history("pat-1", since=T0, until=T0 + timedelta(hours=2))

    assert history == saved  # both ends included; each score comes back whole (scale, missing, components)


async def test_score_history_keeps_a_repeated_score_and_stops_at_the_limit(store: Store) -> None:
    same = [score(6, T0 + timedelta(minutes=m)) for m in range(5)]
    await store.save_scores(same)
    assert await store.score_history("pat-1", since=T0, until=T0 + timedelta(hours=1), limit=3) == same[:3]
    assert await store.score_history("pat-9", since=T0, until=T0 + timedelta(hours=1)) == []


async def test_observation_buckets_summarise_each_parameter_per_bucket_from_since(store: Store) -> None:
    since = T0 + timedelta(hours=1)
    await store.append(
        [
            reading(Parameter.PULSE, 80.0, since),  # bucket 0 starts at `since`, inclusive
            reading(Parameter.PULSE, 100.0, since + timedelta(seconds=299)),
            reading(Parameter.PULSE, 130.0, since + timedelta(seconds=300)),  # bucket 1
            reading(Parameter.PULSE, 60.0, since + timedelta(minutes=25)),  # bucket 5; 2-4 are empty
            reading(Parameter.SPO2, 91.0, since + timedelta(seconds=10)),
            reading(Parameter.PULSE, 200.0, since - timedelta(microseconds=1)),  # before the window
            reading(Parameter.PULSE, 201.0, since + timedelta(minutes=30)),  # `until` is excluded
            reading(Parameter.PULSE, 50.0, since, patient_id="pat-2"),
        ],
        [],
    )

    buckets = await store.observation_buckets("pat-1", since=since, until=since + timedelta(minutes=30), bucket_s=300)

    assert buckets == [
        ObservationBucket(Parameter.PULSE, since, 2, 90.0, 80.0, 100.0),
        ObservationBucket(Parameter.PULSE, since + timedelta(minutes=5), 1, 130.0, 130.0, 130.0),
        ObservationBucket(Parameter.PULSE, since + timedelta(minutes=25), 1, 60.0, 60.0, 60.0),
        ObservationBucket(Parameter.SPO2, since, 1, 91.0, 91.0, 91.0),
    ]
    only_spo2 = await store.observation_buckets(
        "pat-1", since=since, until=since + timedelta(minutes=30), bucket_s=300, parameters=[Parameter.SPO2]
    )
    assert only_spo2 == buckets[3:]


async def test_observation_buckets_of_a_day_at_one_hertz_are_one_row_per_bucket(store: Store) -> None:
    readings = [reading(Parameter.PULSE, 70.0 + (i % 10), T0 + timedelta(seconds=i)) for i in range(7200)]
    await store.append(readings, [])
    buckets = await store.observation_buckets("pat-1", since=T0, until=T0 + timedelta(hours=2), bucket_s=600)
    assert [b.starts_at for b in buckets] == [T0 + timedelta(minutes=10 * k) for k in range(12)]
    assert {(b.count, b.mean, b.low, b.high) for b in buckets} == {(600, 74.5, 70.0, 79.0)}


async def test_observation_buckets_refuse_an_empty_bucket_length(store: Store) -> None:
    with pytest.raises(ValueError, match="bucket_s must be positive"):
        await store.observation_buckets("pat-1", since=T0, until=T0 + timedelta(hours=1), bucket_s=0)
