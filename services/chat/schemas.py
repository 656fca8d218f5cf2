"""The payload of a `model` or `chatbot` job: a normalized chat request plus routing."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.providers.types import ChatRequest
from services.webhooks.models import WebhookTarget


class ModelRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: str = Field(min_length=1, max_length=64)
    model: str = Field(min_length=1, max_length=200)


class ChatJobPayload(ChatRequest):
    provider: str = Field(default="mock", min_length=1, max_length=64)
    model: str = Field(default="mock-0ms", min_length=1, max_length=200)
    # Tried in order when the primary's retries are spent or its circuit is open.
    fallbacks: list[ModelRef] = Field(default_factory=list, max_length=10)
    # False bypasses the response cache (read and write); True opts in even when sampling;
    # unset caches only deterministic requests (temperature 0 or a seed).
    cache: bool | None = None
    stream: bool = False
    metadata: dict[str, Any] = Field(default_factory=dict)
    # Where to POST this job's job.succeeded / job.failed / job.cancelled event, signed with
    # the org's default secret (GET /api/v1/webhooks/secret).
    webhook: WebhookTarget | None = None
