-- vaktrom schema for the embedded store. Times are INTEGER microseconds since the Unix epoch (UTC).
-- Enum columns hold the enums' .value; JSON columns hold text.

CREATE TABLE sites (
    site_id TEXT PRIMARY KEY,
    name    TEXT NOT NULL,
    kind    TEXT NOT NULL
);

CREATE TABLE wards (
    ward_id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL,
    name    TEXT NOT NULL
);
CREATE INDEX wards_site ON wards (site_id);

CREATE TABLE beds (
    bed_id  TEXT PRIMARY KEY,
    ward_id TEXT NOT NULL,
    label   TEXT NOT NULL
);
CREATE INDEX beds_ward ON beds (ward_id);

CREATE TABLE patients (
    patient_id   TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    birth_year   INTEGER
);

CREATE TABLE spo2_scale_decisions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    patient_id TEXT NOT NULL,
    scale      INTEGER NOT NULL,
    set_by     TEXT NOT NULL,
    set_at     INTEGER NOT NULL
);
CREATE INDEX spo2_scale_decisions_patient ON spo2_scale_decisions (patient_id, set_at);

CREATE TABLE stays (
    stay_id    TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL,
    ward_id    TEXT NOT NULL,
    setting    TEXT NOT NULL,
    start_at   INTEGER NOT NULL,
    bed_id     TEXT,
    end_at     INTEGER
);
CREATE INDEX stays_ward ON stays (ward_id, start_at);
CREATE INDEX stays_patient ON stays (patient_id, start_at);

CREATE TABLE care_team (
    patient_id   TEXT NOT NULL,
    member_id    TEXT NOT NULL,
    role         TEXT NOT NULL,
    organisation TEXT NOT NULL,
    start_at     INTEGER NOT NULL,
    end_at       INTEGER,
    PRIMARY KEY (patient_id, member_id, role, start_at)
);

CREATE TABLE devices (
    device_id     TEXT PRIMARY KEY,
    site_id       TEXT NOT NULL,
    kind          TEXT NOT NULL,
    model         TEXT NOT NULL,
    registered_at INTEGER NOT NULL
);
CREATE INDEX devices_site ON devices (site_id);

CREATE TABLE pairings (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id  TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    bed_id     TEXT,
    start_at   INTEGER NOT NULL,
    end_at     INTEGER
);
CREATE INDEX pairings_device ON pairings (device_id, start_at);
-- A device is paired to at most one patient at a time.
CREATE UNIQUE INDEX pairings_one_open ON pairings (device_id) WHERE end_at IS NULL;

CREATE TABLE device_status (
    device_id       TEXT PRIMARY KEY,
    online          INTEGER NOT NULL,
    reported_at     INTEGER NOT NULL,
    battery_percent REAL,
    signal_dbm      REAL,
    firmware        TEXT
);

CREATE TABLE observations (
    device_id   TEXT NOT NULL,
    patient_id  TEXT NOT NULL,
    parameter   TEXT NOT NULL,
    value       REAL NOT NULL,
    measured_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    -- Key columns in this order so the key also serves per-device time queries (no separate device index).
    UNIQUE (device_id, measured_at, parameter)
);
CREATE INDEX observations_patient ON observations (patient_id, measured_at);

CREATE TABLE latest_values (
    patient_id  TEXT NOT NULL,
    parameter   TEXT NOT NULL,
    value       REAL NOT NULL,
    measured_at INTEGER NOT NULL,
    device_id   TEXT NOT NULL,
    PRIMARY KEY (patient_id, parameter)
);

CREATE TABLE dead_letters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    topic       TEXT NOT NULL,
    payload     BLOB NOT NULL,
    reason      TEXT NOT NULL,
    device_id   TEXT,
    received_at INTEGER NOT NULL
);
CREATE INDEX dead_letters_received ON dead_letters (received_at);

CREATE TABLE scores_current (
    patient_id       TEXT PRIMARY KEY,
    computed_at      INTEGER NOT NULL,
    total            INTEGER NOT NULL,
    complete         INTEGER NOT NULL,
    risk             TEXT NOT NULL,
    single_param_3   INTEGER NOT NULL,
    parameter_scores TEXT NOT NULL,
    missing          TEXT NOT NULL,
    spo2_scale       INTEGER NOT NULL
);

CREATE TABLE scores_history (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    patient_id       TEXT NOT NULL,
    computed_at      INTEGER NOT NULL,
    total            INTEGER NOT NULL,
    complete         INTEGER NOT NULL,
    risk             TEXT NOT NULL,
    single_param_3   INTEGER NOT NULL,
    parameter_scores TEXT NOT NULL,
    missing          TEXT NOT NULL,
    spo2_scale       INTEGER NOT NULL
);
CREATE INDEX scores_history_patient ON scores_history (patient_id, computed_at);

CREATE TABLE risks_current (
    patient_id    TEXT PRIMARY KEY,
    computed_at   INTEGER NOT NULL,
    probability   REAL,
    level         TEXT NOT NULL,
    reasons       TEXT NOT NULL,
    model_version TEXT NOT NULL
);

CREATE TABLE alerts (
    alert_id        INTEGER PRIMARY KEY AUTOINCREMENT,
    patient_id      TEXT,
    ward_id         TEXT,
    kind            TEXT NOT NULL,
    severity        INTEGER NOT NULL,
    state           TEXT NOT NULL,
    message         TEXT NOT NULL,
    opened_at       INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    device_id       TEXT,
    acknowledged_at INTEGER,
    acknowledged_by TEXT,
    resolved_at     INTEGER
);
-- At most one unresolved alert per (patient, device, kind); '' stands in for a missing id.
CREATE UNIQUE INDEX alerts_one_unresolved
    ON alerts (COALESCE(patient_id, ''), COALESCE(device_id, ''), kind) WHERE state <> 'resolved';
CREATE INDEX alerts_ward ON alerts (ward_id, opened_at);
CREATE INDEX alerts_patient ON alerts (patient_id, opened_at);

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    role    TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail  TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
