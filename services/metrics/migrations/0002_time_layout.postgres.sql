-- Plain PostgreSQL (no TimescaleDB): a time index for range scans across orgs (dashboards,
-- deleting old rows). Retention is then a scheduled
--   DELETE FROM request_metrics WHERE time < now() - interval '90 days'
-- run by the operator; TimescaleDB drops whole chunks instead (0002_time_layout.timescale.sql).
CREATE INDEX IF NOT EXISTS request_metrics_time_idx ON request_metrics (time DESC);
