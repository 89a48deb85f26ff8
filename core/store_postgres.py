"""The shared store: PostgreSQL (optionally TimescaleDB) through psycopg 3 and an async connection pool."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool

from core import store_codec as codec
from core.errors import AlertAlreadyAcknowledged, NotFound, StorageUnavailable
from core.migrations import apply_postgres_migrations
from core.store import AlertChange
from core.store_codec import require_utc, utc
from core.types import (
    Alert,
    AlertKind,
    AlertSeverity,
    AlertState,
    AppendResult,
    AuditEntry,
    Bed,
    CareTeamMember,
    DeadLetter,
    Device,
    DeviceStatus,
    HourlyMean,
    LatestValue,
    Pairing,
    Parameter,
    Patient,
    PatientScore,
    Reading,
    RiskAssessment,
    Site,
    SiteKind,
    SpO2Scale,
    SpO2ScaleDecision,
    Stay,
    Ward,
)

__all__ = ["PostgresStore"]

logger = logging.getLogger(__name__)

_Conn = psycopg.AsyncConnection[tuple[Any, ...]]

# A first connection that takes longer than this means the server is not there: report it, don't hang startup.
CONNECT_TIMEOUT_S = 5
# A call waits this long for a pooled connection before reporting StorageUnavailable (the caller retries with
# backoff and keeps its messages unacknowledged, so a short wait loses nothing).
POOL_TIMEOUT_S = 5.0
# Readiness probes give up after a second or two: answer before they do.
PING_TIMEOUT_S = 1.0

# Per-connection staging table for bulk appends; ON COMMIT DELETE ROWS empties it after each append.
_CREATE_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS obs_stage (seq int4 NOT NULL, device_id text NOT NULL, patient_id text NOT NULL,"
    " parameter text NOT NULL, value float8 NOT NULL, measured_at timestamptz NOT NULL,"
    " received_at timestamptz NOT NULL) ON COMMIT DELETE ROWS"
)
_COPY_STAGE = (
    "COPY obs_stage (seq, device_id, patient_id, parameter, value, measured_at, received_at) FROM STDIN (FORMAT BINARY)"
)
_STAGE_TYPES = ["int4", "text", "text", "text", "float8", "timestamptz", "timestamptz"]
# One statement: store the new readings, move latest values forward, and name the staged rows that were not stored.
_MERGE_STAGE = """
WITH inserted AS (
    INSERT INTO observations (device_id, patient_id, parameter, value, measured_at, received_at)
    SELECT device_id, patient_id, parameter, value, measured_at, received_at FROM obs_stage
    ORDER BY device_id, measured_at, parameter  -- in key order: index pages are touched in runs, ~1.3x faster
    ON CONFLICT (device_id, parameter, measured_at) DO NOTHING
    RETURNING device_id, patient_id, parameter, value, measured_at
), newest AS (
    INSERT INTO latest_values AS lv (patient_id, parameter, value, measured_at, device_id)
    SELECT DISTINCT ON (patient_id, parameter) patient_id, parameter, value, measured_at, device_id
    FROM inserted ORDER BY patient_id, parameter, measured_at DESC
    ON CONFLICT (patient_id, parameter) DO UPDATE
    SET value = EXCLUDED.value, measured_at = EXCLUDED.measured_at, device_id = EXCLUDED.device_id
    WHERE EXCLUDED.measured_at > lv.measured_at
)
SELECT s.seq FROM obs_stage s
WHERE NOT EXISTS (
    SELECT 1 FROM inserted i
    WHERE i.device_id = s.device_id AND i.parameter = s.parameter AND i.measured_at = s.measured_at
)
ORDER BY s.seq
"""
_COPY_DEAD_LETTERS = "COPY dead_letters (topic, payload, reason, device_id, received_at) FROM STDIN (FORMAT BINARY)"
_DEAD_LETTER_TYPES = ["text", "bytea", "text", "text", "timestamptz"]

_DEVICE_COLUMNS = "device_id, site_id, kind, model, registered_at"
_PAIRING_COLUMNS = "device_id, patient_id, start_at, bed_id, end_at"
_STAY_COLUMNS = "stay_id, patient_id, ward_id, setting, start_at, bed_id, end_at"
_STATUS_COLUMNS = "device_id, online, reported_at, battery_percent, signal_dbm, firmware"
_SCORE_COLUMNS = "patient_id, computed_at, total, complete, risk, single_param_3, parameter_scores, missing, spo2_scale"
_SCORE_SELECT = (
    "patient_id, computed_at, total, complete, risk, single_param_3, parameter_scores::text, missing::text, spo2_scale"
)
_SCORE_VALUES = "%s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s"
_RAISE_ALERT = f"""
INSERT INTO alerts AS a (patient_id, ward_id, kind, severity, state, message, opened_at, updated_at, device_id)
VALUES (%s, %s, %s, %s, 'open', %s, %s, %s, %s)
ON CONFLICT ((COALESCE(patient_id, '')), (COALESCE(device_id, '')), kind) WHERE state <> 'resolved'
DO UPDATE SET severity = EXCLUDED.severity, message = EXCLUDED.message, updated_at = EXCLUDED.updated_at,
    state = 'open', acknowledged_at = NULL, acknowledged_by = NULL, ward_id = COALESCE(EXCLUDED.ward_id, a.ward_id)
WHERE a.severity < EXCLUDED.severity
RETURNING {codec.ALERT_COLUMNS}
"""
_OPEN_AT = "start_at <= %(at)s AND (end_at IS NULL OR %(at)s < end_at)"


def _describe(dsn: str) -> str:
    """host:port/dbname for messages: never the password."""
    try:
        info = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "postgresql (unparsable DSN)"
    return f"postgresql {info.get('host') or 'localhost'}:{info.get('port') or 5432}/{info.get('dbname') or ''}"


async def _configure(conn: _Conn) -> None:
    await conn.execute("SET TIME ZONE 'UTC'")
    await conn.execute(_CREATE_STAGE)


class PostgresStore:
    """Store on PostgreSQL. Safe to share one database between several vaktrom processes."""

    def __init__(self, dsn: str, *, pool_min: int = 1, pool_max: int = 8) -> None:
        self._dsn = dsn
        self._pool_min = pool_min
        self._pool_max = pool_max
        self._where = _describe(dsn)
        self._pool: AsyncConnectionPool[_Conn] | None = None

    # --- plumbing --------------------------------------------------------------------------------------------
    @asynccontextmanager
    async def _connection(self, *, timeout_s: float | None = None) -> AsyncIterator[_Conn]:
        if self._pool is None:
            raise RuntimeError(f"PostgresStore({self._where}) is not open")
        try:
            async with self._pool.connection(timeout=timeout_s) as conn:
                yield conn
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise StorageUnavailable(self._where, detail=str(exc).strip()) from exc

    async def _fetch(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
        async with self._connection() as conn:
            cursor = await conn.execute(sql.encode(), params)
            return await cursor.fetchall()

    async def _exec(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        async with self._connection() as conn:
            cursor = await conn.execute(sql.encode(), params)
            return cursor.rowcount

    # --- lifecycle -------------------------------------------------------------------------------------------
    async def open(self) -> None:
        if self._pool is not None:
            return
        try:
            # One direct connection first: an unreachable server fails here at once, with libpq's reason.
            conn = await psycopg.AsyncConnection.connect(self._dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
            async with conn:
                await apply_postgres_migrations(conn)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise StorageUnavailable(self._where, detail=str(exc).strip()) from exc
        pool: AsyncConnectionPool[_Conn] = AsyncConnectionPool(
            self._dsn,
            min_size=self._pool_min,
            max_size=self._pool_max,
            open=False,
            configure=_configure,
            timeout=POOL_TIMEOUT_S,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S},
            name=f"vaktrom-store {self._where}",
        )
        try:
            await pool.open(wait=True, timeout=POOL_TIMEOUT_S)
        except psycopg.OperationalError as exc:
            await pool.close()
            raise StorageUnavailable(self._where, detail=str(exc).strip()) from exc
        self._pool = pool
        logger.info("Opened PostgreSQL store at %s", self._where)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def ping(self) -> bool:
        try:
            async with self._connection(timeout_s=PING_TIMEOUT_S) as conn:
                await conn.execute("SELECT 1")
        except (StorageUnavailable, RuntimeError):
            return False
        return True

    # --- reference data ------------------------------------------------------------------------------------
    async def upsert_site(self, site: Site) -> None:
        await self._exec(
            "INSERT INTO sites VALUES (%s, %s, %s) ON CONFLICT (site_id) DO UPDATE SET name = EXCLUDED.name, "
            "kind = EXCLUDED.kind",
            (site.site_id, site.name, site.kind.value),
        )

    async def upsert_ward(self, ward: Ward) -> None:
        await self._exec(
            "INSERT INTO wards VALUES (%s, %s, %s) ON CONFLICT (ward_id) DO UPDATE SET site_id = EXCLUDED.site_id, "
            "name = EXCLUDED.name",
            (ward.ward_id, ward.site_id, ward.name),
        )

    async def upsert_bed(self, bed: Bed) -> None:
        await self._exec(
            "INSERT INTO beds VALUES (%s, %s, %s) ON CONFLICT (bed_id) DO UPDATE SET ward_id = EXCLUDED.ward_id, "
            "label = EXCLUDED.label",
            (bed.bed_id, bed.ward_id, bed.label),
        )

    async def upsert_patient(self, patient: Patient) -> None:
        await self._exec(
            "INSERT INTO patients VALUES (%s, %s, %s) ON CONFLICT (patient_id) DO UPDATE SET "
            "display_name = EXCLUDED.display_name, birth_year = EXCLUDED.birth_year",
            (patient.patient_id, patient.display_name, patient.birth_year),
        )

    async def list_sites(self) -> list[Site]:
        rows = await self._fetch("SELECT site_id, name, kind FROM sites ORDER BY site_id")
        return [Site(site_id, name, SiteKind(kind)) for site_id, name, kind in rows]

    async def list_wards(self, *, site_ids: Sequence[str] | None = None) -> list[Ward]:
        rows = await self._fetch(
            "SELECT ward_id, site_id, name FROM wards WHERE %(all)s OR site_id = ANY(%(ids)s::text[]) ORDER BY ward_id",
            {"all": site_ids is None, "ids": list(site_ids or ())},
        )
        return [Ward(*row) for row in rows]

    async def get_ward(self, ward_id: str) -> Ward:
        rows = await self._fetch("SELECT ward_id, site_id, name FROM wards WHERE ward_id = %s", (ward_id,))
        if not rows:
            raise NotFound("ward", ward_id)
        return Ward(*rows[0])

    async def list_beds(self, ward_id: str) -> list[Bed]:
        rows = await self._fetch(
            "SELECT bed_id, ward_id, label FROM beds WHERE ward_id = %s ORDER BY bed_id", (ward_id,)
        )
        return [Bed(*row) for row in rows]

    async def get_patient(self, patient_id: str) -> Patient:
        rows = await self._fetch(
            "SELECT patient_id, display_name, birth_year FROM patients WHERE patient_id = %s", (patient_id,)
        )
        if not rows:
            raise NotFound("patient", patient_id)
        return Patient(*rows[0])

    async def set_spo2_scale(self, decision: SpO2ScaleDecision) -> None:
        await self._exec(
            "INSERT INTO spo2_scale_decisions (patient_id, scale, set_by, set_at) VALUES (%s, %s, %s, %s)",
            (decision.patient_id, decision.scale.value, decision.set_by, require_utc(decision.set_at)),
        )

    async def get_spo2_scale(self, patient_id: str) -> SpO2ScaleDecision | None:
        rows = await self._fetch(
            "SELECT patient_id, scale, set_by, set_at FROM spo2_scale_decisions WHERE patient_id = %s "
            "ORDER BY set_at DESC, id DESC LIMIT 1",
            (patient_id,),
        )
        if not rows:
            return None
        patient, scale, set_by, set_at = rows[0]
        return SpO2ScaleDecision(patient, SpO2Scale(scale), set_by, utc(set_at))

    async def add_stay(self, stay: Stay) -> None:
        await self._exec(
            f"INSERT INTO stays ({_STAY_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (stay_id) DO UPDATE "
            "SET patient_id = EXCLUDED.patient_id, ward_id = EXCLUDED.ward_id, setting = EXCLUDED.setting, "
            "start_at = EXCLUDED.start_at, bed_id = EXCLUDED.bed_id, end_at = EXCLUDED.end_at",
            (
                stay.stay_id,
                stay.patient_id,
                stay.ward_id,
                stay.setting.value,
                require_utc(stay.start_at),
                stay.bed_id,
                stay.end_at,
            ),
        )

    async def end_stay(self, stay_id: str, *, end_at: datetime) -> None:
        if await self._exec("UPDATE stays SET end_at = %s WHERE stay_id = %s", (require_utc(end_at), stay_id)) == 0:
            raise NotFound("stay", stay_id)

    async def list_stays(self, *, ward_id: str, at: datetime) -> list[Stay]:
        rows = await self._fetch(
            f"SELECT {_STAY_COLUMNS} FROM stays WHERE ward_id = %(ward)s AND {_OPEN_AT} ORDER BY start_at, stay_id",
            {"ward": ward_id, "at": require_utc(at)},
        )
        return [codec.stay_from_row(row, utc) for row in rows]

    async def stays_of_patients(self, patient_ids: Sequence[str], *, at: datetime) -> dict[str, Stay]:
        rows = await self._fetch(
            f"SELECT {_STAY_COLUMNS} FROM stays WHERE patient_id = ANY(%(ids)s::text[]) AND {_OPEN_AT} "
            "ORDER BY start_at, stay_id",
            {"ids": list(patient_ids), "at": require_utc(at)},
        )
        return {stay.patient_id: stay for stay in (codec.stay_from_row(row, utc) for row in rows)}

    async def add_care_team_member(self, member: CareTeamMember) -> None:
        await self._exec(
            "INSERT INTO care_team VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (patient_id, member_id, role, start_at) "
            "DO UPDATE SET organisation = EXCLUDED.organisation, end_at = EXCLUDED.end_at",
            (
                member.patient_id,
                member.member_id,
                member.role.value,
                member.organisation,
                require_utc(member.start_at),
                member.end_at,
            ),
        )

    async def list_care_team(self, patient_id: str, *, at: datetime) -> list[CareTeamMember]:
        rows = await self._fetch(
            "SELECT patient_id, member_id, role, organisation, start_at, end_at FROM care_team "
            f"WHERE patient_id = %(patient)s AND {_OPEN_AT} ORDER BY start_at, member_id",
            {"patient": patient_id, "at": require_utc(at)},
        )
        return [codec.care_team_from_row(row, utc) for row in rows]

    # --- devices -------------------------------------------------------------------------------------------
    async def register_device(self, device: Device) -> None:
        await self._exec(
            f"INSERT INTO devices ({_DEVICE_COLUMNS}) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (device_id) DO UPDATE "
            "SET site_id = EXCLUDED.site_id, kind = EXCLUDED.kind, model = EXCLUDED.model",
            (device.device_id, device.site_id, device.kind.value, device.model, require_utc(device.registered_at)),
        )

    async def get_device(self, device_id: str) -> Device:
        rows = await self._fetch(f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE device_id = %s", (device_id,))
        if not rows:
            raise NotFound("device", device_id)
        return codec.device_from_row(rows[0], utc)

    async def list_devices(self, *, site_ids: Sequence[str] | None = None) -> list[Device]:
        rows = await self._fetch(
            f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE %(all)s OR site_id = ANY(%(ids)s::text[]) ORDER BY device_id",
            {"all": site_ids is None, "ids": list(site_ids or ())},
        )
        return [codec.device_from_row(row, utc) for row in rows]

    async def pair_device(self, pairing: Pairing) -> None:
        start_at = require_utc(pairing.start_at)
        async with self._connection() as conn, conn.transaction():
            # Serialise pairings of one device across processes (at most one open pairing per device).
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("pairing:" + pairing.device_id,))
            cursor = await conn.execute(
                "SELECT patient_id, start_at FROM pairings WHERE device_id = %s AND end_at IS NULL",
                (pairing.device_id,),
            )
            if await cursor.fetchone() == (pairing.patient_id, start_at) and pairing.end_at is None:
                return  # the same pairing again (idempotent seeding)
            await conn.execute(
                "UPDATE pairings SET end_at = %s WHERE device_id = %s AND end_at IS NULL",
                (start_at, pairing.device_id),
            )
            await conn.execute(
                "INSERT INTO pairings (device_id, patient_id, bed_id, start_at, end_at) VALUES (%s, %s, %s, %s, %s)",
                (pairing.device_id, pairing.patient_id, pairing.bed_id, start_at, pairing.end_at),
            )

    async def unpair_device(self, device_id: str, *, end_at: datetime) -> None:
        await self._exec(
            "UPDATE pairings SET end_at = %s WHERE device_id = %s AND end_at IS NULL", (require_utc(end_at), device_id)
        )

    async def pairings_of_devices(self, device_ids: Sequence[str]) -> dict[str, list[Pairing]]:
        rows = await self._fetch(
            f"SELECT {_PAIRING_COLUMNS} FROM pairings WHERE device_id = ANY(%s::text[]) ORDER BY start_at, id",
            (list(device_ids),),
        )
        result: dict[str, list[Pairing]] = {}
        for row in rows:
            pairing = codec.pairing_from_row(row, utc)
            result.setdefault(pairing.device_id, []).append(pairing)
        return result

    async def save_device_status(self, status: DeviceStatus) -> None:
        await self._exec(
            f"INSERT INTO device_status AS ds ({_STATUS_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (device_id) DO UPDATE SET online = EXCLUDED.online, reported_at = EXCLUDED.reported_at, "
            "battery_percent = EXCLUDED.battery_percent, signal_dbm = EXCLUDED.signal_dbm, "
            "firmware = EXCLUDED.firmware WHERE EXCLUDED.reported_at >= ds.reported_at",
            (
                status.device_id,
                status.online,
                require_utc(status.reported_at),
                status.battery_percent,
                status.signal_dbm,
                status.firmware,
            ),
        )

    async def list_device_status(self, *, device_ids: Sequence[str] | None = None) -> list[DeviceStatus]:
        rows = await self._fetch(
            f"SELECT {_STATUS_COLUMNS} FROM device_status WHERE %(all)s OR device_id = ANY(%(ids)s::text[]) "
            "ORDER BY device_id",
            {"all": device_ids is None, "ids": list(device_ids or ())},
        )
        return [codec.device_status_from_row(row, utc) for row in rows]

    async def last_reading_at(self, device_ids: Sequence[str]) -> dict[str, datetime]:
        # One index probe per device (newest first) instead of aggregating every reading of the devices.
        rows = await self._fetch(
            "SELECT d.id, (SELECT max(o.measured_at) FROM observations o WHERE o.device_id = d.id) "
            "FROM unnest(%s::text[]) AS d(id)",
            (list(dict.fromkeys(device_ids)),),
        )
        return {device_id: utc(at) for device_id, at in rows if at is not None}

    # --- observations --------------------------------------------------------------------------------------
    async def append(self, readings: Sequence[Reading], dead_letters: Sequence[DeadLetter]) -> AppendResult:
        unique, duplicate_indices = codec.split_duplicates(readings)
        letters = list(dead_letters)
        not_stored: list[int] = []
        async with self._connection() as conn, conn.transaction(), conn.cursor() as cursor:
            if unique:
                async with cursor.copy(_COPY_STAGE) as copy:
                    copy.set_types(_STAGE_TYPES)
                    for index in unique:
                        r = readings[index]
                        await copy.write_row(
                            (
                                index,
                                r.device_id,
                                r.patient_id,
                                r.parameter.value,
                                r.value,
                                require_utc(r.measured_at),
                                require_utc(r.received_at),
                            )
                        )
                await cursor.execute(_MERGE_STAGE)
                not_stored = [seq for (seq,) in await cursor.fetchall()]
                duplicate_indices += not_stored
            duplicates = tuple(readings[i] for i in sorted(duplicate_indices))
            letters += map(codec.duplicate_dead_letter, duplicates)
            if letters:
                async with cursor.copy(_COPY_DEAD_LETTERS) as copy:
                    copy.set_types(_DEAD_LETTER_TYPES)
                    for d in letters:
                        await copy.write_row((d.topic, d.payload, d.reason, d.device_id, require_utc(d.received_at)))
        return AppendResult(
            stored=len(unique) - len(not_stored),
            duplicates=duplicates,
            dead_lettered=len(letters),
        )

    async def latest_values(self, patient_ids: Sequence[str]) -> dict[str, dict[Parameter, LatestValue]]:
        rows = await self._fetch(
            "SELECT patient_id, parameter, value, measured_at, device_id FROM latest_values "
            "WHERE patient_id = ANY(%s::text[])",
            (list(patient_ids),),
        )
        return codec.latest_by_patient(rows, utc)

    async def readings(
        self,
        patient_id: str,
        *,
        since: datetime,
        until: datetime,
        parameters: Sequence[Parameter] | None = None,
        limit: int = 10_000,
    ) -> list[Reading]:
        rows = await self._fetch(
            "SELECT device_id, patient_id, parameter, value, measured_at, received_at FROM observations "
            "WHERE patient_id = %(patient)s AND measured_at BETWEEN %(since)s AND %(until)s "
            "AND (%(all)s OR parameter = ANY(%(parameters)s::text[])) "
            "ORDER BY measured_at, device_id, parameter LIMIT %(limit)s",
            {
                "patient": patient_id,
                "since": require_utc(since),
                "until": require_utc(until),
                "all": parameters is None,
                "parameters": [p.value for p in parameters or ()],
                "limit": limit,
            },
        )
        return [codec.reading_from_row(row, utc) for row in rows]

    async def hourly_means(
        self, patient_id: str, *, until: datetime, hours: int, parameters: Sequence[Parameter]
    ) -> list[HourlyMean]:
        rows = await self._fetch(
            "SELECT parameter, floor(extract(epoch FROM (%(until)s - measured_at)) / 3600)::int AS hours_ago, "
            "avg(value), count(*) FROM observations "
            "WHERE patient_id = %(patient)s AND measured_at > %(since)s AND measured_at <= %(until)s "
            "AND parameter = ANY(%(parameters)s::text[]) "
            "GROUP BY parameter, hours_ago ORDER BY parameter, hours_ago",
            {
                "patient": patient_id,
                "until": require_utc(until),
                "since": require_utc(until) - timedelta(hours=hours),
                "parameters": [p.value for p in parameters],
            },
        )
        return [HourlyMean(Parameter(row[0]), int(row[1]), float(row[2]), int(row[3])) for row in rows]

    async def count_readings(self) -> int:
        rows = await self._fetch("SELECT count(*) FROM observations")
        return int(rows[0][0])

    async def list_dead_letters(self, *, limit: int = 100) -> list[DeadLetter]:
        rows = await self._fetch(
            "SELECT topic, payload, reason, received_at, device_id FROM dead_letters "
            "ORDER BY received_at DESC, id DESC LIMIT %s",
            (limit,),
        )
        return [
            DeadLetter(topic, bytes(payload), reason, utc(at), device) for topic, payload, reason, at, device in rows
        ]

    async def count_dead_letters(self) -> int:
        rows = await self._fetch("SELECT count(*) FROM dead_letters")
        return int(rows[0][0])

    # --- scores --------------------------------------------------------------------------------------------
    async def save_scores(self, scores: Sequence[PatientScore]) -> None:
        rows = []
        for s in scores:
            parameter_scores, missing = codec.score_json(s)
            rows.append(
                (
                    s.patient_id,
                    require_utc(s.computed_at),
                    s.total,
                    s.complete,
                    s.risk.value,
                    s.single_param_3,
                    parameter_scores,
                    missing,
                    s.spo2_scale.value,
                )
            )
        async with self._connection() as conn, conn.transaction(), conn.cursor() as cursor:
            await cursor.executemany(
                f"INSERT INTO scores_history ({_SCORE_COLUMNS}) VALUES ({_SCORE_VALUES})".encode(), rows
            )
            await cursor.executemany(
                f"INSERT INTO scores_current AS sc ({_SCORE_COLUMNS}) VALUES ({_SCORE_VALUES}) "
                "ON CONFLICT (patient_id) DO UPDATE SET computed_at = EXCLUDED.computed_at, total = EXCLUDED.total, "
                "complete = EXCLUDED.complete, risk = EXCLUDED.risk, single_param_3 = EXCLUDED.single_param_3, "
                "parameter_scores = EXCLUDED.parameter_scores, missing = EXCLUDED.missing, "
                "spo2_scale = EXCLUDED.spo2_scale WHERE EXCLUDED.computed_at >= sc.computed_at".encode(),
                rows,
            )

    async def current_scores(self, patient_ids: Sequence[str]) -> dict[str, PatientScore]:
        rows = await self._fetch(
            f"SELECT {_SCORE_SELECT} FROM scores_current WHERE patient_id = ANY(%s::text[])", (list(patient_ids),)
        )
        return {row[0]: codec.score_from_row(row, utc) for row in rows}

    async def save_risks(self, risks: Sequence[RiskAssessment]) -> None:
        rows = [
            (
                r.patient_id,
                require_utc(r.computed_at),
                r.probability,
                r.level.value,
                codec.risk_json(r),
                r.model_version,
            )
            for r in risks
        ]
        async with self._connection() as conn, conn.transaction(), conn.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO risks_current AS rc (patient_id, computed_at, probability, level, reasons, model_version) "
                "VALUES (%s, %s, %s, %s, %s::jsonb, %s) ON CONFLICT (patient_id) DO UPDATE SET "
                "computed_at = EXCLUDED.computed_at, probability = EXCLUDED.probability, level = EXCLUDED.level, "
                "reasons = EXCLUDED.reasons, model_version = EXCLUDED.model_version "
                "WHERE EXCLUDED.computed_at >= rc.computed_at",
                rows,
            )

    async def current_risks(self, patient_ids: Sequence[str]) -> dict[str, RiskAssessment]:
        rows = await self._fetch(
            "SELECT patient_id, computed_at, probability, level, reasons::text, model_version FROM risks_current "
            "WHERE patient_id = ANY(%s::text[])",
            (list(patient_ids),),
        )
        return {row[0]: codec.risk_from_row(row, utc) for row in rows}

    # --- alerts --------------------------------------------------------------------------------------------
    async def raise_alert(
        self,
        *,
        patient_id: str | None,
        device_id: str | None,
        ward_id: str | None,
        kind: AlertKind,
        severity: AlertSeverity,
        message: str,
        at: datetime,
    ) -> AlertChange:
        at = require_utc(at)
        params = (patient_id, ward_id, kind.value, severity.value, message, at, at, device_id)
        async with self._connection() as conn, conn.transaction():
            # ON CONFLICT on the partial unique index makes open-or-raise atomic across processes; when the
            # severity is not higher the conflicting row is still locked, so the read below sees it as it stays.
            cursor = await conn.execute(_RAISE_ALERT.encode(), params)
            row = await cursor.fetchone()
            if row is not None:
                return AlertChange(codec.alert_from_row(row, utc), changed=True)
            cursor = await conn.execute(
                f"SELECT {codec.ALERT_COLUMNS} FROM alerts WHERE COALESCE(patient_id, '') = %s "
                "AND COALESCE(device_id, '') = %s AND kind = %s AND state <> 'resolved'",
                (patient_id or "", device_id or "", kind.value),
            )
            row = await cursor.fetchone()
        if row is None:  # resolved by someone else between the two statements cannot happen: the row is locked
            raise RuntimeError(f"alert for {patient_id}/{device_id}/{kind.value} vanished while raising it")
        return AlertChange(codec.alert_from_row(row, utc), changed=False)

    async def acknowledge_alert(self, alert_id: int, *, by: str, at: datetime) -> Alert:
        rows = await self._fetch(
            "UPDATE alerts SET state = 'acknowledged', acknowledged_at = %(at)s, acknowledged_by = %(by)s, "
            f"updated_at = %(at)s WHERE alert_id = %(id)s AND state = 'open' RETURNING {codec.ALERT_COLUMNS}",
            {"at": require_utc(at), "by": by, "id": alert_id},
        )
        if rows:
            return codec.alert_from_row(rows[0], utc)
        alert = await self.get_alert(alert_id)
        raise AlertAlreadyAcknowledged(alert_id, by=alert.acknowledged_by)

    async def resolve_alert(self, alert_id: int, *, at: datetime) -> Alert:
        rows = await self._fetch(
            "UPDATE alerts SET state = 'resolved', resolved_at = %(at)s, updated_at = %(at)s "
            f"WHERE alert_id = %(id)s AND state <> 'resolved' RETURNING {codec.ALERT_COLUMNS}",
            {"at": require_utc(at), "id": alert_id},
        )
        return codec.alert_from_row(rows[0], utc) if rows else await self.get_alert(alert_id)

    async def get_alert(self, alert_id: int) -> Alert:
        rows = await self._fetch(f"SELECT {codec.ALERT_COLUMNS} FROM alerts WHERE alert_id = %s", (alert_id,))
        if not rows:
            raise NotFound("alert", alert_id)
        return codec.alert_from_row(rows[0], utc)

    async def list_alerts(
        self,
        *,
        ward_ids: Sequence[str] | None = None,
        patient_ids: Sequence[str] | None = None,
        states: Sequence[AlertState] = (AlertState.OPEN, AlertState.ACKNOWLEDGED),
        limit: int = 500,
    ) -> list[Alert]:
        rows = await self._fetch(
            f"SELECT {codec.ALERT_COLUMNS} FROM alerts WHERE state = ANY(%(states)s::text[]) "
            "AND (%(all_wards)s OR ward_id = ANY(%(wards)s::text[])) "
            "AND (%(all_patients)s OR patient_id = ANY(%(patients)s::text[])) "
            "ORDER BY opened_at DESC, alert_id DESC LIMIT %(limit)s",
            {
                "states": [s.value for s in states],
                "all_wards": ward_ids is None,
                "wards": list(ward_ids or ()),
                "all_patients": patient_ids is None,
                "patients": list(patient_ids or ()),
                "limit": limit,
            },
        )
        return [codec.alert_from_row(row, utc) for row in rows]

    # --- audit ---------------------------------------------------------------------------------------------
    async def audit(self, entry: AuditEntry) -> None:
        await self._exec(
            "INSERT INTO audit_log (at, user_id, role, action, subject, detail) VALUES (%s, %s, %s, %s, %s, %s)",
            (require_utc(entry.at), entry.user_id, entry.role.value, entry.action, entry.subject, entry.detail),
        )

    async def list_audit(self, *, limit: int = 100) -> list[AuditEntry]:
        rows = await self._fetch(
            "SELECT at, user_id, role, action, subject, detail FROM audit_log ORDER BY at DESC, id DESC LIMIT %s",
            (limit,),
        )
        return [codec.audit_from_row(row, utc) for row in rows]
