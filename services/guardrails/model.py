"""A bridge's guardrail policy."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class PiiKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    CARD = "card"
    IBAN = "iban"
    IP = "ip"
    SECRET = "secret"


class Stage(StrEnum):
    """Where a redaction applies: what the provider is sent, what the job record keeps."""

    PROVIDER = "provider"
    RECORD = "record"


class Moderation(BaseModel):
    """A model call that classifies the prompt before the run. `on_failure` is required:
    when the moderation call itself fails, the policy must say whether to block or allow."""

    model_config = ConfigDict(extra="forbid")
    provider: str = Field(min_length=1, max_length=64)
    model: str = Field(min_length=1, max_length=200)
    on_failure: Literal["block", "allow"]


class GuardrailPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    redact: list[PiiKind] = Field(default_factory=list)
    # Redact from what reaches the provider, from the stored job record, or (default) both.
    redact_in: list[Stage] = Field(default_factory=lambda: [Stage.PROVIDER, Stage.RECORD], min_length=1)
    # Case-insensitive phrases that refuse a request (422) wherever they appear in it.
    block_list: list[str] = Field(default_factory=list, max_length=500)
    moderation: Moderation | None = None
