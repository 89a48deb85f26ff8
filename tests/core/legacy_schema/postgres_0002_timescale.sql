-- requires-extension: timescaledb
-- Only applied where TimescaleDB can be created; elsewhere observations stays a plain table (see 0001).

CREATE EXTENSION IF NOT EXISTS timescaledb;

-- One-day chunks: a unit of ~20 beds at 1 Hz x 5 parameters writes ~9M rows a day, a comfortable chunk.
-- No default (measured_at) index: observations_key and observations_patient already lead with their time column
-- after the id, and every extra index costs append throughput.
SELECT create_hypertable('observations', 'measured_at', chunk_time_interval => INTERVAL '1 day',
    create_default_indexes => false, migrate_data => true);

-- Queries are per device or per patient over time: segment by device and parameter, order by time.
ALTER TABLE observations SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'device_id, parameter',
    timescaledb.compress_orderby = 'measured_at DESC'
);
-- Late readings (a home kit offline for days) still land uncompressed within a week.
SELECT add_compression_policy('observations', INTERVAL '7 days');
-- Raw device data are kept two years; the clinical record (charted values, alerts) lives in the EPJ, and the
-- hourly aggregate below keeps the trend.
SELECT add_retention_policy('observations', INTERVAL '2 years');

CREATE MATERIALIZED VIEW observations_hourly WITH (timescaledb.continuous) AS
SELECT time_bucket(INTERVAL '1 hour', measured_at) AS bucket,
       patient_id,
       parameter,
       count(*) AS readings,
       avg(value) AS mean_value,
       min(value) AS min_value,
       max(value) AS max_value
FROM observations
GROUP BY bucket, patient_id, parameter
WITH NO DATA;

SELECT add_continuous_aggregate_policy('observations_hourly',
    start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '30 minutes');
