"""Settings: one object, nested by concern, read from the environment.

The flat names integrators already deploy with (QUEUE_CONNECTIONURL, REDIS_URI,
MONGODB_CONNECTION_URI, TIMESCALE_SERVICE_URL, CONSUMER_STATUS, PORT, ENVIRONMENT) are honoured
as they are; everything else is `<SECTION>_<FIELD>` (e.g. RABBIT_PREFETCH). A URL left unset
selects the embedded adapter for that port, except in ENVIRONMENT=PRODUCTION where it is a
start-up error naming the variable.
"""

from __future__ import annotations

import ipaddress
import json
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AliasChoices, BeforeValidator, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret", "dev", "development"}


def _comma_or_json(value: Any) -> Any:
    """A list from the environment: a JSON list or the comma-separated form."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


def _cidrs(values: list[str]) -> list[str]:
    for value in values:
        ipaddress.ip_network(value, strict=False)  # ValueError names the bad entry
    return values


StrList = Annotated[list[str], NoDecode, BeforeValidator(_comma_or_json)]
CidrList = Annotated[list[str], NoDecode, BeforeValidator(_comma_or_json), AfterValidator(_cidrs)]


class InvalidSettings(ValueError):
    """A setting the environment got wrong; the message is one line naming the variable."""


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
    # Loopback unless configured: containers set APP_HOST=0.0.0.0 (Dockerfile, k8s).
    host: str = "127.0.0.1"
    # CONSUMER_STATUS=true makes an API process also run the job pools (single-deployment mode).
    consumer_status: bool = Field(default=False, validation_alias=AliasChoices("CONSUMER_STATUS"))
    max_body_bytes: int = 1024 * 1024
    log_level: str = "INFO"
    dev_api_key: str | None = None
    data_dir: str = ".data"
    # Worker processes serve GET /metrics on this port (the API serves it on its own); 0: off.
    metrics_port: int = 9100
    metrics_host: str = "127.0.0.1"
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
    # host names and CIDRs, comma-separated or JSON lists in the environment.
    allow_hosts: StrList = Field(default_factory=list)
    allow_cidrs: CidrList = Field(default_factory=list)


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
    # host names and CIDRs, comma-separated or JSON lists in the environment.
    tool_allow_hosts: StrList = Field(default_factory=list)
    tool_allow_cidrs: CidrList = Field(default_factory=list)
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
    # How the OpenAI-wire adapters (openai, openrouter, gemini, the compatible ones) call:
    # `aiohttp` speaks the wire on one pool (2.2-2.8x less CPU per call, bench/RESULTS.md);
    # `sdk` goes through the official `openai` SDK.
    openai_transport: Literal["aiohttp", "sdk"] = "aiohttp"
    # Whole-request timeout; a long answer streams well within it. Connect fails fast so a
    # dead host is a quick retryable error, not a minute-long stall.
    request_timeout_s: float = 120.0
    connect_timeout_s: float = 5.0
    # SDK clients (each owns a connection pool) cached per (base URL, credential).
    client_cache_size: int = 64
    # Anthropic requires max_tokens on every call; used when the request sets none.
    anthropic_default_max_tokens: int = 1024
    mock_latency_ms: float = 0.0


class ThreadsSettings(BaseSettings):
    """Chatbot threads: turn order (services/threads/order_store.py) and memory."""

    model_config = _section("THREADS_")
    # A running turn holds its thread this long, renewed every third of it while the model
    # answers; a crashed worker's turn is free again within it.
    turn_lease_s: float = 30.0
    # A turn with no lease and no progress this long is skipped by the next one (its job
    # vanished). Above JOBS_RETRY_MAX_S (60 s), so a turn backing off is never skipped.
    turn_stall_s: float = 120.0
    # A later turn that finds an earlier one unfinished comes back after this long.
    turn_wait_s: float = 0.5
    # Counters of a thread idle this long expire (re-seeded from the thread's last turn).
    order_ttl_s: float = 7 * 24 * 3600
    # The model that folds old turns into a thread's summary (a bridge's policy may override).
    summary_provider: str = "mock"
    summary_model: str = "mock-0ms"
    summary_max_tokens: int = 512


class ChatbotSettings(BaseSettings):
    """End users of embedded chatbots: their tokens and sockets."""

    model_config = _section("CHATBOT_")
    # End-user JWTs must expire within this long of now ("short-lived").
    token_max_ttl_s: int = 24 * 3600
    # Clock skew allowed between the integrator's backend and us.
    token_leeway_s: int = 30
    # An org's verification keys are cached this long per process: a rotation or deletion
    # takes effect everywhere within it.
    key_cache_s: float = 10.0
    # Open WebSockets per end user per process; the next one is closed with 4429.
    ws_max_per_user: int = 5
    # A heartbeat is sent after this long without traffic; a silent client is dropped
    # after ws_idle_timeout_s.
    ws_heartbeat_s: float = 20.0
    ws_idle_timeout_s: float = 120.0


class TracingSettings(BaseSettings):
    """OpenTelemetry tracing (services/observability/tracing.py). Off by default; when on,
    the SDK reads the standard OTEL_* variables (OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER...)."""

    model_config = _section("TRACING_")
    enabled: bool = False
    # "otlp" (OTLP over HTTP), "console" (one JSON span per line, to `file` or stdout) or "none".
    exporter: str = Field(default="otlp", validation_alias=AliasChoices("OTEL_TRACES_EXPORTER", "TRACING_EXPORTER"))
    file: str | None = None


class RagSettings(BaseSettings):
    """RAG: chunk store, ingestion, embeddings, search (see services/rag/)."""

    model_config = _section("RAG_")
    # PostgreSQL with the `vector` extension for chunks (may be the metrics database's URL
    # when that server has pgvector); unset: the embedded store under `.data/`.
    database_url: str | None = _alias("RAG_DATABASE_URL", "PGVECTOR_URL")
    pool_max: int = 10
    # HNSW candidates per query (pgvector's default is 40); see chunks/pgvector_store.py.
    hnsw_ef_search: int = 100
    # Celery broker for ingestion; unset: QUEUE_CONNECTIONURL; neither: ingest in process.
    broker_url: str | None = None
    # "celery" (a broker is required), "in_process" (the API process ingests: small
    # deployments and tests), or "auto": Celery when a broker URL is known.
    ingest_mode: Literal["auto", "celery", "in_process"] = "auto"
    # Tasks each ingest process holds ahead (see services/rag/ingest/celery_app.py).
    ingest_prefetch: int = 4
    embed_batch_size: int = 128
    embed_concurrency: int = 4
    embed_cache_entries: int = 50_000
    embed_cache_ttl_s: int = 7 * 24 * 3600
    # Uploads and fetched pages larger than this are refused (413 / failed document).
    max_document_bytes: int = 10 * 1024 * 1024
    fetch_timeout_s: float = 20.0
    # Document URLs exempt from the private-address check (development and tests only).
    fetch_allow_hosts: list[str] = Field(default_factory=list)
    fetch_allow_cidrs: list[str] = Field(default_factory=list)
    # Hybrid search: RRF constant and how deep each engine is asked (services/rag/search.py).
    rrf_k: float = 60.0
    search_candidates: int = 50
    # The model that reranks candidates when a search asks for `rerank` (one call per search).
    rerank_provider: str = "mock"
    rerank_model: str = "mock-0ms"


class GovernanceSettings(BaseSettings):
    """Limits, budgets, key checks and the audit log (services/limits, auth, audit)."""

    model_config = _section("GOVERNANCE_")
    # Output tokens reserved for a request without max_tokens, reconciled when it ends.
    default_output_tokens: int = Field(default=512, ge=1)
    # Streams and inline calls one API process holds open before answering 503.
    process_max_streams: int = Field(default=1000, ge=1)
    process_max_inline: int = Field(default=1000, ge=1)
    # A per-caller concurrency slot frees itself this long after its holder died.
    slot_lease_s: float = Field(default=600.0, gt=0)
    # Valid keys are cached this long per process; revocations reach every process at once
    # through Redis pub/sub, so this only bounds the harm of a lost message.
    key_cache_ttl_s: float = Field(default=30.0, gt=0)
    # Key usage counts and last-used times are flushed to the store this often.
    key_usage_flush_s: float = Field(default=1.0, gt=0)
    # Limit policies are cached per process this long (a change made through another
    # process applies here this late).
    policy_cache_s: float = Field(default=1.0, ge=0)


class SchedulingSettings(BaseSettings):
    """Provider capacity shaping, fair shares between orgs, priorities (services/scheduling)."""

    model_config = _section("SCHEDULING_")
    # Per-org sub-queues dispatched by weighted deficit round robin; off: plain FIFO queues.
    fair_share: bool = True
    # Dispatched-but-not-started jobs kept in RabbitMQ per kind: enough to keep workers fed
    # between dispatch rounds; it bounds how long a newly active org waits (ahead / rate).
    dispatch_ahead: int = Field(default=200, ge=1)
    # ...or this many seconds of the kind's start rate, when that is more. A job reaches its
    # start ~0.1-0.2 s after its dispatch on a busy worker: a fixed 200 held one worker to
    # 4,064-4,136 jobs in flight at 1 s (1,000 gave 5,000); 0.25 s keeps it fed at 5,000+
    # starts/s while a newly active org still waits about a quarter second behind it.
    dispatch_ahead_s: float = Field(default=0.25, ge=0)
    # Jobs per RabbitMQ message: a dispatch round (a worker's, or the submits of one API loop
    # tick) publishes its jobs in packs of this many. Receiving a message cost a worker ~100
    # us of CPU of the ~300 a job start took; in packs of 32, a start took ~175-190. 1
    # publishes one message a job, as a platform before packs did: set it while workers of
    # that version still consume.
    dispatch_pack: int = Field(default=32, ge=1, le=1000)
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
    # Share of the limit (the tighter of configured and learnt) we use: arrivals jitter by
    # tens of ms and the provider counts on its own clock; at 100% the first window of a
    # 5x backlog drew 1-6 429s (each a lost slot), at 95% none.
    headroom: float = Field(default=0.95, gt=0, le=1)
    # A 429 lowers the learnt limit by this factor (until headers say otherwise).
    throttle_factor: float = Field(default=0.8, gt=0, lt=1)
    # Default and largest wait for a start (capacity + fair share) before `queue_timeout`.
    max_queue_s: float = Field(default=3600.0, gt=0)
    # A dispatched job not started after this long no longer counts as dispatched.
    dispatched_stale_s: float = Field(default=300.0, gt=0)
    # A job a dispatcher took but whose publish it never confirmed is published again by
    # another dispatcher after this long without a sign of life from its owner. A confirm
    # takes milliseconds and at most the broker's 10 s publish timeout; a round refreshes
    # its owner every 20 ms: 30 s is only reached by a dead or hung process.
    claim_lease_s: float = Field(default=30.0, gt=0)
    # How often each dispatch loop looks for such claims.
    sweep_interval_s: float = Field(default=5.0, gt=0)
    # Provider-native batches (services/scheduling/provider_batches.py): first poll after
    # this long, then each wait doubles up to the max (a provider batch takes minutes to hours).
    batch_poll_s: float = Field(default=30.0, gt=0)
    batch_poll_max_s: float = Field(default=600.0, gt=0)
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
    threads: ThreadsSettings = Field(default_factory=ThreadsSettings)
    chatbot: ChatbotSettings = Field(default_factory=ChatbotSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    rag: RagSettings = Field(default_factory=RagSettings)
    governance: GovernanceSettings = Field(default_factory=GovernanceSettings)
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


def _variable(section: str | None, field: str) -> str:
    """The environment variable of `field` (an alias, or a field of the titled section)."""
    if field.isupper():
        return field
    sections = [cls for cls in BaseSettings.__subclasses__() if cls.__module__ == __name__
                and (section is None or cls.__name__ == section) and field in cls.model_fields]
    names = [f"{cls.model_config.get('env_prefix', '')}{field}".upper() for cls in sections]
    return " or ".join(names) or field


def _one_line(exc: ValidationError | SettingsError) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"]]
        message = str(err["msg"]).removeprefix("Value error, ")
        return f"{_variable(exc.title, loc[-1])}: {message}" if loc else message
    field = str(exc).split('"')[1] if str(exc).count('"') >= 2 else ""
    return f"{_variable(None, field)}: cannot be parsed ({exc})"


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment; keyword overrides replace whole sections.
    An invalid value raises InvalidSettings with one line naming the variable."""
    try:
        return Settings(**overrides)
    except (ValidationError, SettingsError) as exc:
        raise InvalidSettings(_one_line(exc)) from None
