"""Settings: one object, nested by concern, read from the environment.

The flat names integrators already deploy with (QUEUE_CONNECTIONURL, REDIS_URI,
MONGODB_CONNECTION_URI, TIMESCALE_SERVICE_URL, CONSUMER_STATUS, PORT, ENVIRONMENT) are honoured
as they are; everything else is `<SECTION>_<FIELD>` (e.g. RABBIT_PREFETCH). A URL left unset
selects the embedded adapter for that port, except in ENVIRONMENT=PRODUCTION where it is a
start-up error naming the variable.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret", "dev", "development"}


def _section(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=prefix, extra="ignore", populate_by_name=True, env_file=".env",
        env_file_encoding="utf-8",
    )


def _alias(*names: str) -> Any:
    return Field(default=None, validation_alias=AliasChoices(*names))


class AppSettings(BaseSettings):
    model_config = _section("APP_")
    environment: str = Field(default="development", validation_alias=AliasChoices("ENVIRONMENT", "APP_ENVIRONMENT"))
    port: int = Field(default=8080, validation_alias=AliasChoices("PORT", "APP_PORT"))
    host: str = "0.0.0.0"
    # CONSUMER_STATUS=true makes an API process also run the job pools (single-deployment mode).
    consumer_status: bool = Field(default=False, validation_alias=AliasChoices("CONSUMER_STATUS"))
    max_body_bytes: int = 1024 * 1024
    log_level: str = "INFO"
    dev_api_key: str | None = None
    data_dir: str = ".data"
    # Worker processes serve GET /metrics on this port (the API serves it on its own); 0: off.
    metrics_port: int = 9100
    # Queue depths are sampled into aim_queue_depth_messages this often by API processes.
    queue_depth_interval_s: float = 15.0

    @property
    def production(self) -> bool:
        return self.environment.upper() == "PRODUCTION"


class RabbitSettings(BaseSettings):
    model_config = _section("RABBIT_")
    url: str | None = _alias("QUEUE_CONNECTIONURL", "RABBIT_URL")
    # Per channel. RabbitMQ recommends 100-300 for throughput without starving other
    # consumers; a pool wanting more in flight (JOBS_CONCURRENCY) opens more channels.
    prefetch: int = 200
    # A message redelivered this many times (a worker crashed on it each time) is dead-lettered.
    delivery_limit: int = 5
    queue_prefix: str = ""
    reconnect_max_s: float = 5.0


class RedisSettings(BaseSettings):
    model_config = _section("REDIS_")
    url: str | None = _alias("REDIS_URI", "REDIS_URL")
    max_connections: int = 200
    key_prefix: str = "aim:"


class MongoSettings(BaseSettings):
    model_config = _section("MONGO_")
    url: str | None = _alias("MONGODB_CONNECTION_URI", "MONGO_URL")
    database: str = "ai_middleware"
    # Bridges and credentials cached per process and (bridges only) in Redis. Writes reach
    # every process through pub/sub at once; these TTLs only bound a lost message's harm.
    cache_local_ttl_s: float = 60.0
    cache_shared_ttl_s: float = 300.0


class TimescaleSettings(BaseSettings):
    model_config = _section("TIMESCALE_")
    url: str | None = _alias("TIMESCALE_SERVICE_URL", "TIMESCALE_URL")
    pool_max: int = 10
    batch_size: int = 5000
    batch_max_age_s: float = 1.0
    # Schema put first on search_path (tests use one per run); None: the server's default.
    db_schema: str | None = None
    # Wait this long for a connection before treating the database as down.
    connect_timeout_s: float = 5.0
    # A failed flush is retried with the deliveries held, backing off up to this long.
    flush_retry_max_s: float = 5.0
    # Producers coalesce metric events into one message of up to this many events, sent at
    # most this long after its first event (services/metrics/outbox.py): AMQP costs ~0.5 ms
    # per message on the consumer, so one event per message capped ingest near 1,800 rows/s.
    outbox_max_events: int = Field(default=500, ge=1)
    outbox_max_age_s: float = Field(default=0.05, gt=0)


class JobSettings(BaseSettings):
    model_config = _section("JOBS_")
    retention_s: int = 7 * 24 * 3600
    max_attempts: int = 3
    # Per-job deadline: retries stop once it is spent.
    deadline_s: float = 300.0
    max_wait_s: float = 60.0
    # In-flight jobs per worker process; one job waiting on a provider costs ~20 KB.
    concurrency: int = 1000
    drain_grace_s: float = 30.0
    retry_base_s: float = 1.0
    retry_max_s: float = 60.0
    # Waits up to this long are slept in process; longer ones go through a delay queue.
    in_process_retry_max_s: float = 5.0


class SecuritySettings(BaseSettings):
    model_config = _section("SECURITY_")
    # AES-GCM keys for provider credentials, base64 of 32 bytes, comma-separated: the first
    # encrypts, all decrypt (rotation).
    encryption_keys: str = Field(
        default="change-me", validation_alias=AliasChoices("ENCRYPTION_KEYS", "SECURITY_ENCRYPTION_KEYS"))


class WebhookSettings(BaseSettings):
    model_config = _section("WEBHOOKS_")
    # Delay before each attempt: now, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (8 attempts,
    # ~28 h in all). JSON list in the environment, e.g. WEBHOOKS_RETRY_SCHEDULE_S='[0,1,2]'.
    retry_schedule_s: list[float] = Field(
        default_factory=lambda: [0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0],
        min_length=1,
    )
    # A Retry-After (429/503) longer than this is clipped, so one receiver cannot park a
    # delivery for days.
    max_retry_after_s: float = 36000
    # Job results larger than this (serialized) are replaced by a link to the job.
    max_payload_bytes: int = 256 * 1024
    # Prefix of that link; empty gives a path relative to the API (/api/v1/jobs/{id}).
    public_base_url: str = ""
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 10.0
    # Requests in flight to one endpoint from one worker process.
    max_in_flight_per_endpoint: int = 50
    # Deliveries in flight per worker process (the webhooks queue's prefetch).
    concurrency: int = 500
    # How long a delivery worker keeps an endpoint it read (see services/webhooks/cache.py).
    endpoint_cache_s: float = 1.0
    # Overlap during which a rotated secret still signs, so receivers can switch over.
    rotation_overlap_s: float = 24 * 3600
    response_body_max_bytes: int = 2048
    # Targets exempt from the private-address check (development and tests only):
    # host names and CIDRs, JSON lists in the environment.
    allow_hosts: list[str] = Field(default_factory=list)
    allow_cidrs: list[str] = Field(default_factory=list)


class ResilienceSettings(BaseSettings):
    model_config = _section("RESILIENCE_")
    # Calls to one model per job attempt before its fallback is tried; the job itself is
    # retried up to jobs.max_attempts through the delay queue on top of this.
    retry_attempts: int = 3
    # Failures within the window that open a circuit (per provider+model, shared by workers).
    breaker_failures: int = 5
    breaker_window_s: float = 30.0
    # Open time before the circuit lets probe calls through (half-open).
    breaker_cooldown_s: float = 30.0
    # Successful probes that close it again, and probes admitted at once while half-open.
    breaker_successes: int = 2
    breaker_half_open_calls: int = 1
    # A process trusts a "closed" answer from Redis this long before asking again, which
    # saves a round trip per provider call; it learns of a circuit opened elsewhere that late.
    breaker_local_ttl_s: float = 0.5


class CacheSettings(BaseSettings):
    model_config = _section("CACHE_")
    enabled: bool = True
    ttl_s: int = 3600
    # In-process LRU in front of Redis: 10,000 answers of ~2 KB is ~20 MB per process.
    lru_entries: int = 10_000
    lru_max_entry_bytes: int = 256 * 1024
    # A process computing an answer holds this lock, renewing it every lock_ttl_s / 3; others
    # wait on the result key while it is held. A crashed process's lock is gone within 5 s.
    lock_ttl_s: float = 5.0
    # Longest a request waits for another process's answer before computing its own.
    lock_wait_max_s: float = 300.0
    wait_poll_max_s: float = 0.1


class ChatSettings(BaseSettings):
    model_config = _section("CHAT_")
    # Model -> tools -> model rounds before the answer is returned as it stands.
    tool_max_depth: int = 5
    tool_timeout_s: float = 10.0
    tool_max_response_bytes: int = 32 * 1024
    # Tool URLs exempt from the private-address check (development and tests only):
    # host names and CIDRs, JSON lists in the environment.
    tool_allow_hosts: list[str] = Field(default_factory=list)
    tool_allow_cidrs: list[str] = Field(default_factory=list)
    # Streamed chunks kept per job (Redis stream MAXLEN) and how long they outlive the job.
    stream_maxlen: int = 10_000
    stream_ttl_s: int = 3600
    sse_heartbeat_s: float = 15.0


class ProvidersSettings(BaseSettings):
    """Where each AI provider lives and how long to wait for it. Credentials are not here:
    they come per call (see services/providers/registry.credentials_from_env)."""

    model_config = _section("PROVIDERS_")
    # One simulator for every provider (tests, benchmarks): its root URL, e.g.
    # http://127.0.0.1:9100. Per-provider base URLs below still win.
    simulator_url: str | None = None
    # None means the SDK's own default (the real service).
    openai_base_url: str | None = None
    anthropic_base_url: str | None = None
    groq_base_url: str | None = None
    mistral_base_url: str | None = None
    openrouter_base_url: str = "https://openrouter.ai/api/v1"
    gemini_base_url: str = "https://generativelanguage.googleapis.com/v1beta/openai/"
    # More OpenAI-compatible services, name -> base URL, e.g. a self-hosted vLLM:
    # PROVIDERS_OPENAI_COMPATIBLE='{"vllm": "http://vllm:8000/v1"}'
    openai_compatible: dict[str, str] = Field(default_factory=dict)
    # Whole-request timeout; a long answer streams well within it. Connect fails fast so a
    # dead host is a quick retryable error, not a minute-long stall.
    request_timeout_s: float = 120.0
    connect_timeout_s: float = 5.0
    # SDK clients (each owns a connection pool) cached per (base URL, credential).
    client_cache_size: int = 64
    # Anthropic requires max_tokens on every call; used when the request sets none.
    anthropic_default_max_tokens: int = 1024
    mock_latency_ms: float = 0.0


class SchedulingSettings(BaseSettings):
    """Provider capacity shaping, fair shares between orgs, priorities (services/scheduling)."""

    model_config = _section("SCHEDULING_")
    # Per-org sub-queues dispatched by weighted deficit round robin; off: plain FIFO queues.
    fair_share: bool = True
    # Dispatched-but-not-started jobs kept in RabbitMQ per kind: enough to keep workers fed
    # between dispatch rounds; it bounds how long a newly active org waits (ahead / rate).
    dispatch_ahead: int = Field(default=200, ge=1)
    # Pause between dispatch rounds while jobs are held (s).
    dispatch_interval_s: float = Field(default=0.02, gt=0)
    # Org weight (default 1) for its share: {"org_a": 3}.
    org_weights: dict[str, float] = Field(default_factory=dict)
    # Shape provider calls to learnt + configured capacity.
    capacity: bool = True
    # The providers' rate-limit "minute" (shortened in tests and benchmarks).
    window_s: float = Field(default=60.0, gt=0)
    # Configured limits per "provider/model" (or "provider/*"): {"openai/gpt-4o": {"rpm": 500, "tpm": 30000}}.
    limits: dict[str, dict[str, float]] = Field(default_factory=dict)
    # Share of a learnt limit we use: arrivals jitter, and the provider counts on its own clock.
    headroom: float = Field(default=0.95, gt=0, le=1)
    # A 429 lowers the learnt limit by this factor (until headers say otherwise).
    throttle_factor: float = Field(default=0.8, gt=0, lt=1)
    # Default and largest wait for a start (capacity + fair share) before `queue_timeout`.
    max_queue_s: float = Field(default=3600.0, gt=0)
    # A dispatched job not started after this long no longer counts as dispatched.
    dispatched_stale_s: float = Field(default=300.0, gt=0)
    # Largest batch upload (JSON or JSONL, up to 50,000 requests).
    batch_max_bytes: int = Field(default=100 * 1024 * 1024, gt=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")
    app: AppSettings = Field(default_factory=AppSettings)
    rabbit: RabbitSettings = Field(default_factory=RabbitSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    mongo: MongoSettings = Field(default_factory=MongoSettings)
    timescale: TimescaleSettings = Field(default_factory=TimescaleSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    providers: ProvidersSettings = Field(default_factory=ProvidersSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    resilience: ResilienceSettings = Field(default_factory=ResilienceSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    chat: ChatSettings = Field(default_factory=ChatSettings)
    scheduling: SchedulingSettings = Field(default_factory=SchedulingSettings)

    @model_validator(mode="after")
    def _production_needs_real_backends(self) -> Settings:
        if not self.app.production:
            return self
        missing = [
            name for name, value in (
                ("QUEUE_CONNECTIONURL", self.rabbit.url),
                ("REDIS_URI", self.redis.url),
                ("MONGODB_CONNECTION_URI", self.mongo.url),
                ("TIMESCALE_SERVICE_URL", self.timescale.url),
            ) if not value
        ]
        if missing:
            raise ValueError(f"ENVIRONMENT=PRODUCTION needs {', '.join(missing)} to be set")
        if self.security.encryption_keys.strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError("ENVIRONMENT=PRODUCTION needs ENCRYPTION_KEYS set to a real key")
        return self

    @cached_property
    def embedded(self) -> bool:
        """True when every backend is in process (`python index.py` with no URLs)."""
        return not (self.rabbit.url or self.redis.url)


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment; keyword overrides replace whole sections."""
    return Settings(**overrides)
