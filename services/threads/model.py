"""Thread and message records, and the memory policy a chatbot bridge runs with.

A message belongs to the turn (a per-thread sequence number, see order_store.py) and the
job that wrote it; `seq` orders it within that turn (the user's input first, then the
assistant's answer). (thread_id, job_id, seq) is unique, which is what makes a redelivered
or retried job append its turn only once.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.config.paging import sortable_id
from services.providers.types import ContentPart, Message, ToolCall

Role = Literal["user", "assistant", "tool"]


class Thread(BaseModel):
    id: str = Field(default_factory=lambda: sortable_id("thr"))
    org_id: str
    bridge_id: str
    # The end user (a JWT's `sub`) who owns the thread; None for threads an API key made.
    end_user: str | None = None
    title: str = Field(default="", max_length=200)
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)
    # Highest turn that has written a message: seeds the turn counter if Redis lost it.
    last_turn: int = 0
    # Running summary of the turns up to and including `summary_through` (0: none yet).
    summary: str | None = None
    summary_through: int = 0


class ThreadMessage(BaseModel):
    id: str = Field(default_factory=lambda: sortable_id("msg"))
    thread_id: str
    org_id: str
    job_id: str
    turn: int = Field(ge=1)
    seq: int = Field(ge=0)
    role: Role
    content: str | list[ContentPart] | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None
    created_at: float = Field(default_factory=time.time)

    def as_message(self) -> Message:
        """The provider-facing message."""
        return Message(role=self.role, content=self.content, tool_calls=self.tool_calls,
                       tool_call_id=self.tool_call_id, name=self.name)

    @classmethod
    def of(cls, message: Message, *, thread: Thread, job_id: str, turn: int, seq: int) -> ThreadMessage:
        if message.role == "system":
            raise ValueError("system messages belong to the bridge, not to a thread")
        return cls(thread_id=thread.id, org_id=thread.org_id, job_id=job_id, turn=turn, seq=seq,
                   role=message.role, content=message.content, tool_calls=message.tool_calls,
                   tool_call_id=message.tool_call_id, name=message.name)


