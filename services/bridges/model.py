"""The bridge record, its versioned spec and the frozen versions.

A bridge has two halves. Its identity and switches (name, slug, type, status) take effect
at once. Its spec (provider, model, prompt, tools, fallbacks, cache, delivery) is edited as
a draft and only runs once published: publishing freezes the draft as the next numbered
version and points the bridge at it; rollback points it at an older one.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.chat.schemas import ModelRef
from services.common.bounded import Bounded
from services.config.paging import sortable_id
from services.guardrails.model import GuardrailPolicy
from services.limits.model import LimitPolicy
from services.providers.types import HttpTool, ResponseFormat

SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
VARIABLE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"


class BridgeType(StrEnum):
    API = "api"
    CHATBOT = "chatbot"


class BridgeStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


class Variable(BaseModel):
    """A `{{name}}` placeholder of the system prompt."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=VARIABLE_PATTERN)
    description: str = Field(default="", max_length=500)
    default: str | None = Field(default=None, max_length=20_000)
    required: bool = Field(default=False, strict=True)


class BridgeParams(BaseModel):
    """Default sampling parameters; a run may not override them (the bridge is the contract)."""

    model_config = ConfigDict(extra="forbid")
    temperature: float | None = Field(default=None, ge=0, le=2, strict=True)
    max_tokens: int | None = Field(default=None, gt=0, le=1_000_000, strict=True)
    stop: list[str] | None = Field(default=None, max_length=4)
    seed: int | None = Field(default=None, strict=True)
    tool_choice: str | dict[str, Any] | None = None
    # The model's output format (text / JSON); `BridgeSpec.response_format` is delivery.
    output_format: ResponseFormat | None = None


class CachePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # False: never cached. True: cached when the request is deterministic (temperature 0 or a
    # seed). `always` also caches sampled requests (the bridge opts in to repeated answers).
    enabled: bool = Field(default=True, strict=True)
    always: bool = Field(default=False, strict=True)
    ttl_s: int = Field(default=3600, ge=0, le=30 * 24 * 3600, strict=True)


class Delivery(BaseModel):
    """How a run answers: inline (`default`), 202 + poll (`async`) or 202 + webhook."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["default", "async", "webhook"] = "default"
    url: str | None = Field(default=None, max_length=2048)
    headers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _webhook_needs_url(self) -> Delivery:
        if self.type == "webhook" and not self.url:
            raise ValueError("response_format.url is required when type is webhook")
        if self.url and not self.url.startswith(("https://", "http://")):
            raise ValueError("response_format.url must be an http(s) URL")
        return self


class MemoryPolicy(BaseModel):
    """How much of a thread a turn sees. Copied into each chatbot job from its bridge."""

    model_config = ConfigDict(extra="forbid")
    # Budget for past messages (the summary included); the new turn comes on top.
    max_history_tokens: int = Field(default=4000, ge=0, le=1_000_000, strict=True)
    # Messages read from the store per turn at most, whatever their size.
    max_messages: int = Field(default=200, ge=1, le=5000, strict=True)
    # Fold turns that no longer fit into a running summary (after the turn, off its path).
    summarize: bool = Field(default=True, strict=True)
    # The model that writes the summary; None: THREADS_SUMMARY_PROVIDER / _MODEL.
    summary_model: ModelRef | None = None


class BridgeSpec(Bounded):
    """The versioned half of a bridge: what a run executes."""

    model_config = ConfigDict(extra="forbid")
    provider: str = Field(default="mock", min_length=1, max_length=64)
    model: str = Field(default="mock-0ms", min_length=1, max_length=200)
    system_prompt: str = Field(default="", max_length=200_000)
    variables: list[Variable] = Field(default_factory=list, max_length=100)
    params: BridgeParams = Field(default_factory=BridgeParams)
    tools: list[HttpTool] = Field(default_factory=list, max_length=128)
    fallbacks: list[ModelRef] = Field(default_factory=list, max_length=10)
    cache: CachePolicy = Field(default_factory=CachePolicy)
    response_format: Delivery = Field(default_factory=Delivery)
    # Chatbot bridges: how much of a thread each turn sees (copied into every chatbot job).
    memory: MemoryPolicy = Field(default_factory=MemoryPolicy)
    # Rate limits and budgets of this bridge (services/limits), and its PII policy.
    limits: LimitPolicy | None = None
    guardrails: GuardrailPolicy | None = None


class Bridge(BaseModel):
    id: str = Field(default_factory=lambda: sortable_id("br"))
    org_id: str
    name: str = Field(min_length=1, max_length=200)
    slug: str = Field(pattern=SLUG_PATTERN)
    type: BridgeType = BridgeType.API
    status: BridgeStatus = BridgeStatus.ACTIVE
    pause_reason: str | None = None
    draft: BridgeSpec = Field(default_factory=BridgeSpec)
    # The version runs use; None until the first publish.
    published_version: int | None = None
    # The highest version number handed out (a version is frozen forever once numbered).
    latest_version: int = 0
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)
    deleted: bool = False
    deleted_at: float | None = None


class BridgeVersion(BaseModel):
    """A published spec, immutable once written."""

    bridge_id: str
    org_id: str
    version: int = Field(ge=1)
    spec: BridgeSpec
    note: str = Field(default="", max_length=500)
    created_at: float = Field(default_factory=time.time)


class ResolvedBridge(BaseModel):
    """What a run needs: the bridge's live switches and its published spec (cached)."""

    bridge_id: str
    org_id: str
    name: str
    slug: str
    type: BridgeType
    status: BridgeStatus
    pause_reason: str | None
    version: int
    spec: BridgeSpec


class SlugRef(BaseModel):
    """A cached slug -> bridge id mapping."""

    bridge_id: str
