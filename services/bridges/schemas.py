"""Request and response bodies of the bridge configuration API."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.bridges.model import (
    SLUG_PATTERN,
    Bridge,
    BridgeParams,
    BridgeSpec,
    BridgeStatus,
    BridgeType,
    BridgeVersion,
    CachePolicy,
    Delivery,
    MemoryPolicy,
    Variable,
)
from services.chat.schemas import ModelRef
from services.common.bounded import Bounded
from services.guardrails.model import GuardrailPolicy
from services.limits.model import LimitPolicy
from services.providers.types import HttpTool


class BridgeCreate(BridgeSpec):
    """A new bridge: its identity plus the spec fields, flat."""

    name: str = Field(min_length=1, max_length=200)
    slug: str | None = Field(default=None, pattern=SLUG_PATTERN)
    type: BridgeType = BridgeType.API
    # Publish the spec as version 1 at once, so the bridge can run straight away.
    publish: bool = Field(default=True, strict=True)

    def spec(self) -> BridgeSpec:
        return BridgeSpec.model_validate(self.model_dump(include=set(BridgeSpec.model_fields)))


class BridgeUpdate(Bounded):
    """Identity and status apply at once; spec fields edit the draft (publish to run them)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    slug: str | None = Field(default=None, pattern=SLUG_PATTERN)
    type: BridgeType | None = None
    status: BridgeStatus | None = None
    pause_reason: str | None = Field(default=None, max_length=500)
    provider: str | None = Field(default=None, min_length=1, max_length=64)
    model: str | None = Field(default=None, min_length=1, max_length=200)
    system_prompt: str | None = Field(default=None, max_length=200_000)
    variables: list[Variable] | None = Field(default=None, max_length=100)
    params: BridgeParams | None = None
    tools: list[HttpTool] | None = Field(default=None, max_length=128)
    fallbacks: list[ModelRef] | None = Field(default=None, max_length=10)
    cache: CachePolicy | None = None
    response_format: Delivery | None = None
    memory: MemoryPolicy | None = None
    limits: LimitPolicy | None = None
    guardrails: GuardrailPolicy | None = None

    def identity_changes(self) -> dict[str, Any]:
        """Fields given; an explicit null means "leave as is", except for pause_reason."""
        fields = {"name", "slug", "type", "status", "pause_reason"}
        given = self.model_dump(mode="json", include=fields, exclude_unset=True)
        return {k: v for k, v in given.items() if v is not None or k == "pause_reason"}

    def spec_changes(self) -> dict[str, Any]:
        given = self.model_dump(include=set(BridgeSpec.model_fields), exclude_unset=True)
        return {k: v for k, v in given.items() if v is not None}


class PublishRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=500)


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1)


class BridgeOut(BaseModel):
    id: str
    name: str
    slug: str
    type: BridgeType
    status: BridgeStatus
    pause_reason: str | None
    published_version: int | None
    latest_version: int
    draft: BridgeSpec
    created_at: float
    updated_at: float

    @classmethod
    def of(cls, bridge: Bridge) -> BridgeOut:
        return cls.model_validate(bridge.model_dump())


class VersionOut(BaseModel):
    bridge_id: str
    version: int
    spec: BridgeSpec
    note: str
    created_at: float

    @classmethod
    def of(cls, version: BridgeVersion) -> VersionOut:
        return cls.model_validate(version.model_dump())


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64]
    return slug or "bridge"
