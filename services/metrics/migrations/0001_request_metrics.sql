-- One row per finished job. The key includes `time` because a TimescaleDB hypertable's
-- unique indexes must contain its partitioning column; `time` is the job's own finish time,
-- so a redelivered event carries the same key and ON CONFLICT skips it.
CREATE TABLE IF NOT EXISTS request_metrics (
    time            timestamptz      NOT NULL,
    org_id          text             NOT NULL,
    bridge_id       text,
    bridge_version  text,
    job_id          text             NOT NULL,
    kind            text             NOT NULL,
    provider        text,
    model           text,
    status          text             NOT NULL,
    error_class     text,
    cache           text,
    attempts        smallint         NOT NULL DEFAULT 0,
    fallback_used   boolean          NOT NULL DEFAULT false,
    queue_ms        double precision,
    provider_ms     double precision,
    total_ms        double precision,
    input_tokens    integer          NOT NULL DEFAULT 0,
    output_tokens   integer          NOT NULL DEFAULT 0,
    cost_usd        numeric(20, 10)  NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, time)
);

-- Every usage query is one org over a time range.
CREATE INDEX IF NOT EXISTS request_metrics_org_time_idx ON request_metrics (org_id, time DESC);
