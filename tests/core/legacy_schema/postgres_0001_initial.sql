-- vaktrom schema for PostgreSQL. Enum columns hold the enums' .value; times are timestamptz (read back as UTC).

CREATE TABLE sites (
    site_id text PRIMARY KEY,
    name    text NOT NULL,
    kind    text NOT NULL
);

CREATE TABLE wards (
    ward_id text PRIMARY KEY,
    site_id text NOT NULL,
    name    text NOT NULL
);
CREATE INDEX wards_site ON wards (site_id);

CREATE TABLE beds (
    bed_id  text PRIMARY KEY,
    ward_id text NOT NULL,
    label   text NOT NULL
);
CREATE INDEX beds_ward ON beds (ward_id);

CREATE TABLE patients (
    patient_id   text PRIMARY KEY,
    display_name text NOT NULL,
    birth_year   integer
);

CREATE TABLE spo2_scale_decisions (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id text NOT NULL,
    scale      smallint NOT NULL,
    set_by     text NOT NULL,
    set_at     timestamptz NOT NULL
);
CREATE INDEX spo2_scale_decisions_patient ON spo2_scale_decisions (patient_id, set_at);

CREATE TABLE stays (
    stay_id    text PRIMARY KEY,
    patient_id text NOT NULL,
    ward_id    text NOT NULL,
    setting    text NOT NULL,
    start_at   timestamptz NOT NULL,
    bed_id     text,
    end_at     timestamptz
);
CREATE INDEX stays_ward ON stays (ward_id, start_at);
CREATE INDEX stays_patient ON stays (patient_id, start_at);

CREATE TABLE care_team (
    patient_id   text NOT NULL,
    member_id    text NOT NULL,
    role         text NOT NULL,
    organisation text NOT NULL,
    start_at     timestamptz NOT NULL,
    end_at       timestamptz,
    PRIMARY KEY (patient_id, member_id, role, start_at)
);

CREATE TABLE devices (
    device_id     text PRIMARY KEY,
    site_id       text NOT NULL,
    kind          text NOT NULL,
    model         text NOT NULL,
    registered_at timestamptz NOT NULL
);
CREATE INDEX devices_site ON devices (site_id);

CREATE TABLE pairings (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id  text NOT NULL,
    patient_id text NOT NULL,
    bed_id     text,
    start_at   timestamptz NOT NULL,
    end_at     timestamptz
);
CREATE INDEX pairings_device ON pairings (device_id, start_at);
-- A device is paired to at most one patient at a time.
CREATE UNIQUE INDEX pairings_one_open ON pairings (device_id) WHERE end_at IS NULL;

CREATE TABLE device_status (
    device_id       text PRIMARY KEY,
    online          boolean NOT NULL,
    reported_at     timestamptz NOT NULL,
    battery_percent double precision,
    signal_dbm      double precision,
    firmware        text
);

-- No surrogate key: a hypertable's unique constraints must include its time column.
CREATE TABLE observations (
    device_id   text NOT NULL,
    patient_id  text NOT NULL,
    parameter   text NOT NULL,
    value       double precision NOT NULL,
    measured_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    -- Key columns in this order so the key also serves per-device time queries (last reading, history): a
    -- separate (device_id, measured_at) index would cost ~20% of append throughput for nothing.
    CONSTRAINT observations_key UNIQUE (device_id, measured_at, parameter)
);
CREATE INDEX observations_patient ON observations (patient_id, measured_at);

CREATE TABLE latest_values (
    patient_id  text NOT NULL,
    parameter   text NOT NULL,
    value       double precision NOT NULL,
    measured_at timestamptz NOT NULL,
    device_id   text NOT NULL,
    PRIMARY KEY (patient_id, parameter)
);

CREATE TABLE dead_letters (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic       text NOT NULL,
    payload     bytea NOT NULL,
    reason      text NOT NULL,
    device_id   text,
    received_at timestamptz NOT NULL
);
CREATE INDEX dead_letters_received ON dead_letters (received_at);

CREATE TABLE scores_current (
    patient_id       text PRIMARY KEY,
    computed_at      timestamptz NOT NULL,
    total            integer NOT NULL,
    complete         boolean NOT NULL,
    risk             text NOT NULL,
    single_param_3   boolean NOT NULL,
    parameter_scores jsonb NOT NULL,
    missing          jsonb NOT NULL,
    spo2_scale       smallint NOT NULL
);

CREATE TABLE scores_history (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id       text NOT NULL,
    computed_at      timestamptz NOT NULL,
    total            integer NOT NULL,
    complete         boolean NOT NULL,
    risk             text NOT NULL,
    single_param_3   boolean NOT NULL,
    parameter_scores jsonb NOT NULL,
    missing          jsonb NOT NULL,
    spo2_scale       smallint NOT NULL
);
CREATE INDEX scores_history_patient ON scores_history (patient_id, computed_at);

CREATE TABLE risks_current (
    patient_id    text PRIMARY KEY,
    computed_at   timestamptz NOT NULL,
    probability   double precision,
    level         text NOT NULL,
    reasons       jsonb NOT NULL,
    model_version text NOT NULL
);

CREATE TABLE alerts (
    alert_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id      text,
    ward_id         text,
    kind            text NOT NULL,
    severity        smallint NOT NULL,
    state           text NOT NULL,
    message         text NOT NULL,
    opened_at       timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    device_id       text,
    acknowledged_at timestamptz,
    acknowledged_by text,
    resolved_at     timestamptz
);
-- At most one unresolved alert per (patient, device, kind), across processes; '' stands in for a missing id.
-- raise_alert targets this index with INSERT ... ON CONFLICT.
CREATE UNIQUE INDEX alerts_one_unresolved
    ON alerts ((COALESCE(patient_id, '')), (COALESCE(device_id, '')), kind) WHERE state <> 'resolved';
CREATE INDEX alerts_ward ON alerts (ward_id, opened_at);
CREATE INDEX alerts_patient ON alerts (patient_id, opened_at);

CREATE TABLE audit_log (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      timestamptz NOT NULL,
    user_id text NOT NULL,
    role    text NOT NULL,
    action  text NOT NULL,
    subject text NOT NULL,
    detail  text NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
