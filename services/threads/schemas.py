"""HTTP and WebSocket models of the chatbot API (threads, messages, turns, socket frames)."""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.providers.types import ContentPart, ToolCall
from services.threads.model import Thread, ThreadMessage

METADATA_MAX_BYTES = 16 * 1024


class ThreadOut(BaseModel):
    id: str
    bridge_id: str
    end_user: str | None
    title: str
    metadata: dict[str, Any]
    created_at: float
    updated_at: float
    last_turn: int
    summary: str | None

    @classmethod
    def of(cls, thread: Thread) -> ThreadOut:
        return cls.model_validate(thread.model_dump())


class MessageOut(BaseModel):
    id: str
    turn: int
    seq: int
    role: str
    content: str | list[ContentPart] | None
    tool_calls: list[ToolCall] | None
    tool_call_id: str | None
    job_id: str
    created_at: float

    @classmethod
    def of(cls, message: ThreadMessage) -> MessageOut:
        return cls.model_validate(message.model_dump())


class ThreadPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, max_length=200)
    metadata: dict[str, Any] | None = None

    @field_validator("metadata")
    @classmethod
    def _small(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(orjson.dumps(value)) > METADATA_MAX_BYTES:
            raise ValueError(f"metadata is limited to {METADATA_MAX_BYTES} bytes of JSON")
        return value


class TurnRequest(BaseModel):
    """Body of POST /api/v1/chatbot/{bridge}/messages."""

    model_config = ConfigDict(extra="forbid")
    thread_id: str | None = Field(default=None, max_length=64)
    content: str = Field(min_length=1, max_length=100_000)
    variables: dict[str, Any] = Field(default_factory=dict)


class SocketTurn(TurnRequest):
    """A client's turn over the WebSocket: `id` is echoed as `reply_to` on every answer."""

    type: Literal["message"]
    id: str = Field(min_length=1, max_length=64)
    bridge: str = Field(min_length=1, max_length=64)


class SocketPing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["ping"]
