"""Turning a published bridge and a caller's input into the chat payload a run executes.

The payload is self-contained: the resolved version's provider, model, rendered prompt,
parameters, tools and fallbacks are copied in, so a queued job runs the version that was
published when it was submitted, whatever is published by the time a worker picks it up.
The version is recorded in the payload's metadata and in job.meta.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, model_validator

from services.bridges.model import Delivery, ResolvedBridge
from services.bridges.render import render
from services.chat.schemas import ChatJobPayload
from services.common.bounded import Bounded
from services.providers.types import Message

# Sampling fields a request may set over the bridge's defaults (OpenAI-compatible route).
OVERRIDABLE = ("temperature", "max_tokens", "stop", "seed", "user", "tool_choice",
               "response_format")


class BridgeRunRequest(Bounded):
    """Body of POST /api/v2/model/chat/completion."""

    model_config = ConfigDict(extra="forbid")
    bridge_id: str | None = Field(default=None, max_length=64)
    slug: str | None = Field(default=None, max_length=64)
    user: str | None = Field(default=None, max_length=1_000_000)
    messages: list[Message] | None = Field(default=None, max_length=1000)
    variables: dict[str, Any] = Field(default_factory=dict)
    thread_id: str | None = Field(default=None, max_length=200)
    # Overrides the bridge's delivery for this call.
    response_format: Delivery | None = None

    @model_validator(mode="after")
    def _one_of_each(self) -> BridgeRunRequest:
        if bool(self.bridge_id) == bool(self.slug):
            raise ValueError("give exactly one of bridge_id and slug")
        if (self.user is None) == (self.messages is None):
            raise ValueError("give exactly one of user and messages")
        return self

    @property
    def ref(self) -> str:
        return self.bridge_id or self.slug or ""

    def chat_messages(self) -> list[Message]:
        if self.messages is not None:
            return self.messages
        return [Message(role="user", content=self.user)]


def bridge_meta(resolved: ResolvedBridge) -> dict[str, Any]:
    return {"bridge_id": resolved.bridge_id, "bridge_slug": resolved.slug,
            "bridge_version": resolved.version}


def build_payload(
    resolved: ResolvedBridge, messages: list[Message], *, variables: dict[str, Any] | None = None,
    thread_id: str | None = None, stream: bool = False, overrides: dict[str, Any] | None = None,
) -> ChatJobPayload:
    """The chat payload for one run. Raises Invalid naming missing required variables."""
    spec, params = resolved.spec, resolved.spec.params
    system = render(spec.system_prompt, spec.variables, variables) or None
    metadata = bridge_meta(resolved)
    if thread_id:
        metadata["thread_id"] = thread_id
    values: dict[str, Any] = {
        "messages": messages, "system": system, "tools": spec.tools,
        "tool_choice": params.tool_choice, "response_format": params.output_format,
        "temperature": params.temperature, "max_tokens": params.max_tokens,
        "stop": params.stop, "seed": params.seed,
        "provider": spec.provider, "model": spec.model, "fallbacks": spec.fallbacks,
        # False: never; True: also sampled requests; None: deterministic requests only.
        "cache": (True if spec.cache.always else None) if spec.cache.enabled else False,
        "stream": stream, "metadata": metadata,
    }
    for name, value in (overrides or {}).items():
        if name in OVERRIDABLE and value is not None:
            values[name] = value
    return ChatJobPayload.model_validate(values)
