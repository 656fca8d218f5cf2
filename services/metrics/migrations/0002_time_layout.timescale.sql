-- TimescaleDB: a hypertable in daily chunks, so retention drops whole days and the chunk
-- being written (and its indexes) stays small enough to sit in memory.
SELECT create_hypertable('request_metrics', 'time',
    chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE, migrate_data => TRUE);

-- Compress chunks once they are a week old (late events are rare past minutes); segmenting
-- by org keeps the per-org usage query reading one segment per chunk. job_id is in the
-- order because every column of the primary key must be in the segment or order settings
-- (TimescaleDB refuses compression otherwise, and checks ON CONFLICT against them).
ALTER TABLE request_metrics SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'org_id',
    timescaledb.compress_orderby = 'time DESC, job_id'
);
SELECT add_compression_policy('request_metrics', INTERVAL '7 days', if_not_exists => TRUE);

-- Raw rows for 90 days; the hourly rollup below keeps two years of trends.
SELECT add_retention_policy('request_metrics', INTERVAL '90 days', if_not_exists => TRUE);

-- Hourly rollup for dashboards over long ranges. Percentiles need raw rows, so the usage API
-- reads request_metrics; this view carries the additive figures (and mean / max latency).
CREATE MATERIALIZED VIEW IF NOT EXISTS request_metrics_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS bucket,
       org_id, bridge_id, provider, model,
       count(*)                                                AS requests,
       sum(CASE WHEN status = 'failed' THEN 1 ELSE 0 END)      AS errors,
       sum(CASE WHEN cache = 'hit' THEN 1 ELSE 0 END)          AS cache_hits,
       sum(CASE WHEN cache IN ('hit', 'miss') THEN 1 ELSE 0 END) AS cache_lookups,
       sum(input_tokens)                                       AS input_tokens,
       sum(output_tokens)                                      AS output_tokens,
       sum(cost_usd)                                           AS cost_usd,
       avg(total_ms)                                           AS avg_total_ms,
       max(total_ms)                                           AS max_total_ms
FROM request_metrics
GROUP BY bucket, org_id, bridge_id, provider, model
WITH NO DATA;

-- Refresh the last three hours every 30 minutes; the newest hour is read from the raw rows
-- (materialized_only = false: real-time aggregation), so the view is never behind.
SELECT add_continuous_aggregate_policy('request_metrics_hourly',
    start_offset => INTERVAL '3 hours', end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '30 minutes', if_not_exists => TRUE);
SELECT add_retention_policy('request_metrics_hourly', INTERVAL '2 years', if_not_exists => TRUE);
