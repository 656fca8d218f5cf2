"""Webhook records: endpoints, events, deliveries, attempts, and the queue message."""

from __future__ import annotations

import hashlib
import secrets
import time
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class EventType(StrEnum):
    JOB_SUCCEEDED = "job.succeeded"
    JOB_FAILED = "job.failed"
    JOB_CANCELLED = "job.cancelled"
    # A USD budget reached 80% or 100% of its cap (services/limits); once per budget period.
    BUDGET_THRESHOLD = "budget.threshold"
    TEST = "webhook.test"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # queued, or waiting for its next attempt
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # stopped without retrying: unsafe target, 410, endpoint gone
    EXHAUSTED = "exhausted"  # every attempt of the schedule failed

    @property
    def terminal(self) -> bool:
        return self is not DeliveryStatus.PENDING


class SigningSecret(BaseModel):
    value: str
    created_at: float = Field(default_factory=time.time)
    # Set when a newer secret replaced it: it keeps signing until then (rotation overlap).
    expires_at: float | None = None

    def active(self, now: float) -> bool:
        return self.expires_at is None or self.expires_at > now


def mask_secret(value: str) -> str:
    return "whsec_..." + value[-4:]


def active_secrets(items: list[SigningSecret], now: float) -> list[str]:
    return [s.value for s in items if s.active(now)]


class Endpoint(BaseModel):
    """A URL an org registered to receive every event matching `event_types` (empty: all)."""

    id: str = Field(default_factory=lambda: "ep_" + secrets.token_hex(10))
    org_id: str
    url: str
    description: str = ""
    event_types: list[str] = Field(default_factory=list)
    enabled: bool = True
    disabled_reason: str | None = None
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)
    secrets: list[SigningSecret] = Field(default_factory=list)

    def matches(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types

    def public(self) -> dict[str, Any]:
        """API view: the current secret masked, never the value."""
        out = self.model_dump(exclude={"secrets"}, mode="json")
        current = self.secrets[0].value if self.secrets else ""
        out["secret"] = mask_secret(current) if current else None
        return out


class Event(BaseModel):
    """One thing that happened; `body` is the exact JSON sent on every attempt."""

    id: str
    org_id: str
    type: str
    created_at: float
    job_id: str | None = None
    body: str


class Delivery(BaseModel):
    """One event on its way to one target (a registered endpoint or a per-request URL)."""

    id: str
    org_id: str
    event_id: str
    event_type: str
    job_id: str | None = None
    endpoint_id: str | None = None
    url: str
    # Extra headers from a per-request webhook; may hold the receiver's credentials.
    headers: dict[str, str] = Field(default_factory=dict)
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)
    next_attempt_at: float | None = None
    last_status_code: int | None = None
    last_error: str | None = None

    def public(self) -> dict[str, Any]:
        """API view: header names only, since their values may be credentials."""
        out = self.model_dump(exclude={"headers"}, mode="json")
        out["header_names"] = sorted(self.headers)
        return out


def delivery_id(event: Event, target_key: str) -> str:
    """Time-ordered (lexical = chronological) and deterministic per (event, target), so a
    listener that runs twice for one job finds the deliveries it already made."""
    digest = hashlib.sha256(f"{event.id}|{target_key}".encode()).hexdigest()[:12]
    return f"dlv_{int(event.created_at * 1_000_000):014x}{digest}"


class Attempt(BaseModel):
    number: int
    started_at: float
    # When the schedule said this attempt was due (None for the first of a round).
    scheduled_for: float | None = None
    status_code: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    response_body: str | None = None
    # success | retry | exhausted | failed | gone | refused
    outcome: str
    # Wait before the next attempt, when one was scheduled.
    next_delay_s: float | None = None


class DeliveryMessage(BaseModel):
    """What goes on the `webhooks` queue: references only, never a secret or the body."""

    v: Literal[1] = 1
    delivery_id: str
    event_id: str
    # The attempt this message asks for (1-based); a stale duplicate is skipped.
    attempt: int
    # Position in the retry schedule; a manual redelivery starts a new round at 0.
    step: int = 0
    not_before: float = 0.0


# Headers the platform sets on every delivery; a per-request webhook may not override them.
RESERVED_HEADERS = frozenset({
    "webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "content-length",
    "host", "transfer-encoding", "connection", "user-agent",
})


class WebhookTarget(BaseModel):
    """`webhook` in a job request (or a bridge): where to POST this job's events."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048, pattern=r"^[hH][tT][tT][pP][sS]?://")
    headers: dict[str, str] = Field(default_factory=dict, max_length=20)

    @field_validator("headers")
    @classmethod
    def _no_reserved(cls, value: dict[str, str]) -> dict[str, str]:
        clash = sorted(k for k in value if k.lower() in RESERVED_HEADERS)
        if clash:
            raise ValueError(f"these headers are set by the platform: {', '.join(clash)}")
        if any(len(k) + len(v) > 4096 for k, v in value.items()):
            raise ValueError("each header must be under 4 KB")
        return value
