"""A database made by the release before Alembic (SQL migrations and a `schema_version` table) opens with today's
store and keeps every row, on both engines. The legacy DDL in legacy_schema/ is that release's, byte for byte."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from psycopg.types.json import Jsonb

from core.store import Store
from core.store.columns import to_us
from core.store.postgres import PostgresStore
from core.store.schema import metadata
from core.store.sqlite import SqliteStore
from core.types import (
    Alert,
    AlertKind,
    AlertSeverity,
    AlertState,
    AuditEntry,
    Bed,
    CareSetting,
    CareTeamMember,
    CareTeamRole,
    ClinicalRisk,
    DeadLetter,
    Device,
    DeviceKind,
    DeviceStatus,
    LatestValue,
    Pairing,
    Parameter,
    Patient,
    PatientScore,
    Reading,
    RiskAssessment,
    RiskLevel,
    Role,
    Site,
    SiteKind,
    SpO2Scale,
    SpO2ScaleDecision,
    Stay,
    Ward,
)
from tests.core.test_store_schema import schema_differences
from tests.fixtures.postgres import timescale_missing_reason

LEGACY = Path(__file__).parent / "legacy_schema"
T0 = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)

# What the old release kept: table -> rows, in its own column order. Times and flags are converted per engine below.
_LEGACY_ROWS: dict[str, list[tuple[Any, ...]]] = {
    "sites": [("site-a", "Demo sykestue", "sykestue")],
    "wards": [("ward-a", "site-a", "Sengepost")],
    "beds": [("bed-1", "ward-a", "Seng 1")],
    "patients": [("pat-1", "Kari Nordmann", 1948)],
    "spo2_scale_decisions (patient_id, scale, set_by, set_at)": [("pat-1", 2, "dr-1", T0)],
    "stays": [("stay-1", "pat-1", "ward-a", "bedside", T0, "bed-1", None)],
    "care_team": [("pat-1", "fact-vest", "fact_team", "FACT Vest-Finnmark", T0, None)],
    "devices": [("dev-1", "site-a", "bedside_monitor", "sim", T0)],
    "pairings (device_id, patient_id, bed_id, start_at, end_at)": [("dev-1", "pat-1", "bed-1", T0, None)],
    "device_status": [("dev-1", True, T1, 81.5, -60.0, "1.2.3")],
    "observations": [("dev-1", "pat-1", "pulse", 88.0, T1, T1 + timedelta(seconds=1))],
    "latest_values": [("pat-1", "pulse", 88.0, T1, "dev-1")],
    "dead_letters (topic, payload, reason, device_id, received_at)": [
        ("vaktrom/v1/site-a/dev-1/obs", b"\x00not json", "malformed JSON", "dev-1", T1)
    ],
    "scores_current": [("pat-1", T1, 3, False, "low", True, {"pulse": 1}, ["resp_rate"], 2)],
    "risks_current": [("pat-1", T1, 0.12, "low", ["pulse 88 /min now"], "news_risk_v1")],
    "alerts (patient_id, ward_id, kind, severity, state, message, opened_at, updated_at, device_id, "
    "acknowledged_at, acknowledged_by, resolved_at)": [
        ("pat-1", "ward-a", "news2", 2, "acknowledged", "NEWS2 5", T0, T1, None, T1, "nurse-1", None)
    ],
    "audit_log (at, user_id, role, action, subject, detail)": [(T1, "nurse-1", "nurse", "read.patient", "pat-1", "")],
}
_JSON_TABLES = ("scores_current", "risks_current")


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_us(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return value


def _postgres_value(value: Any) -> Any:
    return Jsonb(value) if isinstance(value, dict | list) else value


def _insert_statement(table: str, width: int, mark: str) -> str:
    """`table` may name its columns, "alerts (patient_id, ...)", where the old table has an identity column."""
    return f"INSERT INTO {table} VALUES ({', '.join([mark] * width)})"


def _legacy_sqlite(path: Path) -> None:
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.executescript((LEGACY / "sqlite_0001_initial.sql").read_text())
        conn.execute(
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
            "applied_at TEXT NOT NULL DEFAULT (datetime('now')), note TEXT NOT NULL DEFAULT '')"
        )
        conn.execute("INSERT INTO schema_version (version, name) VALUES (1, 'initial')")
        for table, rows in _LEGACY_ROWS.items():
            for row in rows:
                conn.execute(_insert_statement(table, len(row), "?"), [_sqlite_value(v) for v in row])


def _legacy_postgres(dsn: str, *, timescale: bool) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute((LEGACY / "postgres_0001_initial.sql").read_text().encode())
        conn.execute(
            "CREATE TABLE schema_version (version integer PRIMARY KEY, name text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now(), note text NOT NULL DEFAULT '')"
        )
        conn.execute("INSERT INTO schema_version (version, name) VALUES (1, 'initial')")
        if timescale:
            conn.execute((LEGACY / "postgres_0002_timescale.sql").read_text().encode())
            conn.execute("INSERT INTO schema_version (version, name) VALUES (2, 'timescale')")
        else:
            conn.execute("INSERT INTO schema_version (version, name, note) VALUES (2, 'timescale', 'skipped: x')")
        for table, rows in _LEGACY_ROWS.items():
            for row in rows:
                conn.execute(_insert_statement(table, len(row), "%s").encode(), [_postgres_value(v) for v in row])


def _sqlite_legacy_quirk(difference: Any) -> bool:
    """Two harmless differences of the old SQLite DDL, not worth rewriting every table of a live file for: it left
    NOT NULL off TEXT PRIMARY KEY columns (SQLite does not imply it; every writer gave them a value), and its
    observation key is unnamed (SQLite cannot rename a constraint; `_assert_writes_carry_on` shows it still works)."""
    (change,) = difference if isinstance(difference, list) else [difference]
    if change[0] == "add_constraint":
        return str(change[1].name) == "observations_key"
    if change[0] != "modify_nullable":
        return False
    table, column = change[2], change[3]
    return column in {c.name for c in metadata.tables[table].primary_key.columns}


async def _assert_every_row_reads_back(store: Store) -> None:
    assert await store.list_sites() == [Site("site-a", "Demo sykestue", SiteKind.SYKESTUE)]
    assert await store.list_wards() == [Ward("ward-a", "site-a", "Sengepost")]
    assert await store.list_beds("ward-a") == [Bed("bed-1", "ward-a", "Seng 1")]
    assert await store.get_patient("pat-1") == Patient("pat-1", "Kari Nordmann", 1948)
    assert await store.get_spo2_scale("pat-1") == SpO2ScaleDecision("pat-1", SpO2Scale.SCALE_2, "dr-1", T0)
    stay = Stay("stay-1", "pat-1", "ward-a", CareSetting.BEDSIDE, T0, bed_id="bed-1")
    assert await store.list_stays(ward_id="ward-a", at=T1) == [stay]
    member = CareTeamMember("pat-1", "fact-vest", CareTeamRole.FACT_TEAM, "FACT Vest-Finnmark", T0)
    assert await store.list_care_team("pat-1", at=T1) == [member]
    assert await store.list_devices() == [Device("dev-1", "site-a", DeviceKind.BEDSIDE_MONITOR, "sim", T0)]
    assert await store.pairings_of_devices(["dev-1"]) == {"dev-1": [Pairing("dev-1", "pat-1", T0, bed_id="bed-1")]}
    assert await store.list_device_status() == [DeviceStatus("dev-1", True, T1, 81.5, -60.0, "1.2.3")]
    reading = Reading("dev-1", "pat-1", Parameter.PULSE, 88.0, T1, T1 + timedelta(seconds=1))
    assert await store.readings("pat-1", since=T0, until=T1) == [reading]
    assert await store.latest_values(["pat-1"]) == {
        "pat-1": {Parameter.PULSE: LatestValue(Parameter.PULSE, 88.0, T1, "dev-1")}
    }
    letter = DeadLetter("vaktrom/v1/site-a/dev-1/obs", b"\x00not json", "malformed JSON", T1, "dev-1")
    assert await store.list_dead_letters() == [letter]
    score = PatientScore(
        "pat-1", T1, 3, False, ClinicalRisk.LOW, True, {Parameter.PULSE: 1}, (Parameter.RESP_RATE,), SpO2Scale.SCALE_2
    )
    assert await store.current_scores(["pat-1"]) == {"pat-1": score}
    risk = RiskAssessment("pat-1", T1, 0.12, RiskLevel.LOW, ("pulse 88 /min now",), "news_risk_v1")
    assert await store.current_risks(["pat-1"]) == {"pat-1": risk}
    alert = Alert(
        1, "pat-1", "ward-a", AlertKind.NEWS2, AlertSeverity.MEDIUM, AlertState.ACKNOWLEDGED, "NEWS2 5", T0, T1,
        acknowledged_at=T1, acknowledged_by="nurse-1",
    )  # fmt: skip
    assert await store.list_alerts() == [alert]
    assert await store.list_audit() == [AuditEntry(T1, "nurse-1", Role.NURSE, "read.patient", "pat-1")]


async def _assert_writes_carry_on(store: Store) -> None:
    """The old rows still constrain new ones: the key refuses a stored reading, ids continue, one open alert."""
    old = Reading("dev-1", "pat-1", Parameter.PULSE, 88.0, T1, T1 + timedelta(seconds=1))
    new = Reading("dev-1", "pat-1", Parameter.PULSE, 90.0, T1 + timedelta(minutes=1), T1 + timedelta(minutes=1))
    result = await store.append([old, new], [])
    assert (result.stored, result.duplicates) == (1, (old,))
    raised = await store.raise_alert(
        patient_id="pat-1", device_id=None, ward_id="ward-a", kind=AlertKind.NEWS2,
        severity=AlertSeverity.HIGH, message="NEWS2 7", at=T1,
    )  # fmt: skip
    assert (raised.alert.alert_id, raised.alert.state, raised.changed) == (1, AlertState.OPEN, True)
    other = await store.raise_alert(
        patient_id="pat-2", device_id=None, ward_id="ward-a", kind=AlertKind.NEWS2,
        severity=AlertSeverity.HIGH, message="NEWS2 7", at=T1,
    )  # fmt: skip
    assert other.alert.alert_id > 1  # ids continue after the old rows (an upsert may use one up)
    assert await store.count_readings() == 2


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
async def test_sqlite_file_of_the_previous_release_opens_and_keeps_every_row(tmp_path: Path) -> None:
    path = tmp_path / "vaktrom.sqlite3"
    _legacy_sqlite(path)

    store = SqliteStore(path)
    await store.open()
    try:
        assert [d for d in await store._read(schema_differences) if not _sqlite_legacy_quirk(d)] == []
        await _assert_every_row_reads_back(store)
        await _assert_writes_carry_on(store)
    finally:
        await store.close()
    reopened = SqliteStore(path)  # a second open finds the adopted database at head
    await reopened.open()
    assert await reopened.count_readings() == 2
    await reopened.close()


@pytest.fixture
def hypertable_of(postgres_dsn: str) -> Callable[[], bool]:
    def query() -> bool:
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone() is None:
                return False
            row = conn.execute(
                "SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = 'observations'"
            ).fetchone()
            return row is not None

    return query


@pytest.mark.integration
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
async def test_postgres_database_of_the_previous_release_opens_and_keeps_every_row(
    postgres_dsn: str, hypertable_of: Callable[[], bool]
) -> None:
    # The old release skipped its TimescaleDB migration where the extension was missing: that database is plain.
    _legacy_postgres(postgres_dsn, timescale=False)

    store = PostgresStore(postgres_dsn)
    await store.open()
    try:
        assert await store._read(schema_differences) == []
        await _assert_every_row_reads_back(store)
        await _assert_writes_carry_on(store)
    finally:
        await store.close()
    # Once TimescaleDB is there, the plain table the old release left is converted on open, rows and all.
    assert hypertable_of() is (timescale_missing_reason(postgres_dsn) is None)


@pytest.mark.integration
@pytest.mark.timescale
async def test_postgres_hypertable_of_the_previous_release_keeps_rows_and_loses_its_unused_aggregate(
    postgres_dsn: str, hypertable_of: Callable[[], bool]
) -> None:
    reason = timescale_missing_reason(postgres_dsn)
    if reason is not None:
        pytest.skip(reason)
    _legacy_postgres(postgres_dsn, timescale=True)

    store = PostgresStore(postgres_dsn)
    await store.open()
    try:
        await _assert_every_row_reads_back(store)
        await _assert_writes_carry_on(store)
    finally:
        await store.close()
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        aggregates = conn.execute("SELECT view_name FROM timescaledb_information.continuous_aggregates").fetchall()
    assert aggregates == []
    assert hypertable_of()
