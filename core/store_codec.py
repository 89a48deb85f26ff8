"""Domain values to storage columns and back, shared by the SQLite and PostgreSQL stores."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from core.types import (
    Alert,
    AlertKind,
    AlertSeverity,
    AlertState,
    AuditEntry,
    CareSetting,
    CareTeamMember,
    CareTeamRole,
    ClinicalRisk,
    DeadLetter,
    Device,
    DeviceKind,
    DeviceStatus,
    HourlyMean,
    LatestValue,
    Pairing,
    Parameter,
    PatientScore,
    Reading,
    RiskAssessment,
    RiskLevel,
    Role,
    SpO2Scale,
    SpO2ScaleDecision,
    Stay,
)

__all__ = [
    "ALERT_COLUMNS",
    "DUPLICATE_REASON",
    "DUPLICATE_TOPIC",
    "alert_from_row",
    "audit_from_row",
    "care_team_from_row",
    "dead_letter_from_row",
    "device_from_row",
    "device_status_from_row",
    "duplicate_dead_letter",
    "from_us",
    "hourly_mean_from_row",
    "latest_by_patient",
    "newest_per_patient_parameter",
    "pairing_from_row",
    "reading_from_row",
    "require_utc",
    "risk_from_row",
    "risk_json",
    "score_from_row",
    "score_json",
    "split_duplicates",
    "spo2_decision_from_row",
    "stay_from_row",
    "to_us",
    "utc",
]

DUPLICATE_REASON = "duplicate reading"
# A duplicate is found by the store, not read from a topic: this marks where it was refused.
DUPLICATE_TOPIC = "store/append"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

# Column order every alert query selects, so both stores share one row mapper.
ALERT_COLUMNS = (
    "alert_id, patient_id, ward_id, kind, severity, state, message, opened_at, updated_at, device_id, "
    "acknowledged_at, acknowledged_by, resolved_at"
)

TimeDecoder = Callable[[Any], datetime]


def require_utc(at: datetime) -> datetime:
    """Refuse naive datetimes: a store never guesses a time zone."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"expected a tz-aware datetime, got naive {at.isoformat()}")
    return at


def to_us(at: datetime) -> int:
    """Microseconds since the Unix epoch (how SQLite keeps times: exact, ordered, compact)."""
    return (require_utc(at) - _EPOCH) // _US


def from_us(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _opt(value: Any, decode: TimeDecoder) -> datetime | None:
    return None if value is None else decode(value)


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


def dead_letter_from_row(row: Sequence[Any], decode: TimeDecoder) -> DeadLetter:
    """Row: topic, payload, reason, received_at, device_id."""
    topic, payload, reason, received_at, device_id = row
    return DeadLetter(topic, bytes(payload), reason, decode(received_at), device_id)


def hourly_mean_from_row(row: Sequence[Any]) -> HourlyMean:
    """Row: parameter, hours_ago, mean value, count."""
    return HourlyMean(Parameter(row[0]), int(row[1]), float(row[2]), int(row[3]))


def spo2_decision_from_row(row: Sequence[Any], decode: TimeDecoder) -> SpO2ScaleDecision:
    """Row: patient_id, scale, set_by, set_at."""
    patient_id, scale, set_by, set_at = row
    return SpO2ScaleDecision(patient_id, SpO2Scale(scale), set_by, decode(set_at))


def reading_from_row(row: Sequence[Any], decode: TimeDecoder) -> Reading:
    """Row: device_id, patient_id, parameter, value, measured_at, received_at."""
    return Reading(
        device_id=row[0],
        patient_id=row[1],
        parameter=Parameter(row[2]),
        value=float(row[3]),
        measured_at=decode(row[4]),
        received_at=decode(row[5]),
    )


def latest_by_patient(rows: Iterable[Sequence[Any]], decode: TimeDecoder) -> dict[str, dict[Parameter, LatestValue]]:
    """Rows: patient_id, parameter, value, measured_at, device_id."""
    result: dict[str, dict[Parameter, LatestValue]] = {}
    for patient_id, parameter, value, measured_at, device_id in rows:
        latest = LatestValue(Parameter(parameter), float(value), decode(measured_at), device_id)
        result.setdefault(patient_id, {})[latest.parameter] = latest
    return result


def stay_from_row(row: Sequence[Any], decode: TimeDecoder) -> Stay:
    """Row: stay_id, patient_id, ward_id, setting, start_at, bed_id, end_at."""
    return Stay(
        stay_id=row[0],
        patient_id=row[1],
        ward_id=row[2],
        setting=CareSetting(row[3]),
        start_at=decode(row[4]),
        bed_id=row[5],
        end_at=_opt(row[6], decode),
    )


def care_team_from_row(row: Sequence[Any], decode: TimeDecoder) -> CareTeamMember:
    """Row: patient_id, member_id, role, organisation, start_at, end_at."""
    return CareTeamMember(
        patient_id=row[0],
        member_id=row[1],
        role=CareTeamRole(row[2]),
        organisation=row[3],
        start_at=decode(row[4]),
        end_at=_opt(row[5], decode),
    )


def device_from_row(row: Sequence[Any], decode: TimeDecoder) -> Device:
    """Row: device_id, site_id, kind, model, registered_at."""
    return Device(device_id=row[0], site_id=row[1], kind=DeviceKind(row[2]), model=row[3], registered_at=decode(row[4]))


def pairing_from_row(row: Sequence[Any], decode: TimeDecoder) -> Pairing:
    """Row: device_id, patient_id, start_at, bed_id, end_at."""
    return Pairing(
        device_id=row[0], patient_id=row[1], start_at=decode(row[2]), bed_id=row[3], end_at=_opt(row[4], decode)
    )


def device_status_from_row(row: Sequence[Any], decode: TimeDecoder) -> DeviceStatus:
    """Row: device_id, online, reported_at, battery_percent, signal_dbm, firmware."""
    return DeviceStatus(
        device_id=row[0],
        online=bool(row[1]),
        reported_at=decode(row[2]),
        battery_percent=row[3],
        signal_dbm=row[4],
        firmware=row[5],
    )


def score_json(score: PatientScore) -> tuple[str, str]:
    """(parameter_scores, missing) as JSON text, keyed by the parameters' wire names."""
    scores = {parameter.value: points for parameter, points in score.parameter_scores.items()}
    return orjson.dumps(scores).decode(), orjson.dumps([p.value for p in score.missing]).decode()


def score_from_row(row: Sequence[Any], decode: TimeDecoder) -> PatientScore:
    """Row: patient_id, computed_at, total, complete, risk, single_param_3, parameter_scores, missing, spo2_scale."""
    return PatientScore(
        patient_id=row[0],
        computed_at=decode(row[1]),
        total=int(row[2]),
        complete=bool(row[3]),
        risk=ClinicalRisk(row[4]),
        single_param_3=bool(row[5]),
        parameter_scores={Parameter(k): int(v) for k, v in orjson.loads(row[6]).items()},
        missing=tuple(Parameter(p) for p in orjson.loads(row[7])),
        spo2_scale=SpO2Scale(row[8]),
    )


def risk_json(risk: RiskAssessment) -> str:
    return orjson.dumps(list(risk.reasons)).decode()


def risk_from_row(row: Sequence[Any], decode: TimeDecoder) -> RiskAssessment:
    """Row: patient_id, computed_at, probability, level, reasons, model_version."""
    return RiskAssessment(
        patient_id=row[0],
        computed_at=decode(row[1]),
        probability=row[2],
        level=RiskLevel(row[3]),
        reasons=tuple(orjson.loads(row[4])),
        model_version=row[5],
    )


def alert_from_row(row: Sequence[Any], decode: TimeDecoder) -> Alert:
    """Row in ALERT_COLUMNS order."""
    return Alert(
        alert_id=int(row[0]),
        patient_id=row[1],
        ward_id=row[2],
        kind=AlertKind(row[3]),
        severity=AlertSeverity(row[4]),
        state=AlertState(row[5]),
        message=row[6],
        opened_at=decode(row[7]),
        updated_at=decode(row[8]),
        device_id=row[9],
        acknowledged_at=_opt(row[10], decode),
        acknowledged_by=row[11],
        resolved_at=_opt(row[12], decode),
    )


def audit_from_row(row: Sequence[Any], decode: TimeDecoder) -> AuditEntry:
    """Row: at, user_id, role, action, subject, detail."""
    return AuditEntry(
        at=decode(row[0]), user_id=row[1], role=Role(row[2]), action=row[3], subject=row[4], detail=row[5]
    )
