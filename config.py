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
    # CONSUMER_STATUS=false lets an API-only deployment reuse the image without consuming.
    consumer_status: bool = Field(default=True, validation_alias=AliasChoices("CONSUMER_STATUS"))
    max_body_bytes: int = 1024 * 1024
    log_level: str = "INFO"
    dev_api_key: str | None = None
    data_dir: str = ".data"

    @property
    def production(self) -> bool:
        return self.environment.upper() == "PRODUCTION"


class RabbitSettings(BaseSettings):
    model_config = _section("RABBIT_")
    url: str | None = _alias("QUEUE_CONNECTIONURL", "RABBIT_URL")
    # RabbitMQ recommends a prefetch of 100-300 for throughput without starving other consumers.
    prefetch: int = 200
    # A message redelivered this many times (a worker crashed on it each time) is dead-lettered.
    delivery_limit: int = 5
    queue_prefix: str = ""
    # AMQP caps prefetch per channel at 65,535; beyond that the runner opens more channels.
    max_prefetch_per_channel: int = 10_000
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


class TimescaleSettings(BaseSettings):
    model_config = _section("TIMESCALE_")
    url: str | None = _alias("TIMESCALE_SERVICE_URL", "TIMESCALE_URL")
    pool_max: int = 10
    batch_size: int = 5000
    batch_max_age_s: float = 1.0


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
    encryption_keys: str = Field(default="change-me", validation_alias=AliasChoices("ENCRYPTION_KEYS", "SECURITY_ENCRYPTION_KEYS"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")
    app: AppSettings = Field(default_factory=AppSettings)
    rabbit: RabbitSettings = Field(default_factory=RabbitSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    mongo: MongoSettings = Field(default_factory=MongoSettings)
    timescale: TimescaleSettings = Field(default_factory=TimescaleSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)

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
