"""The thread store port: threads and their messages, every call scoped to an org.

Adapters: `memory_store.MemoryThreadStore` (dicts, saved under .data/ for `make run`) and
`mongo_store.MongoThreadStore`. tests/services/threads/test_store_contract.py runs one
suite against both. Another org's thread id finds nothing.
"""

from __future__ import annotations

from typing import Any, Protocol

from services.config.paging import Page
from services.threads.model import Thread, ThreadMessage


class ThreadStore(Protocol):
    async def connect(self) -> None:
        """Open connections and create indexes."""

    async def close(self) -> None: ...

    async def create_thread(self, thread: Thread) -> None: ...

    async def get_thread(self, org_id: str, thread_id: str) -> Thread | None: ...

    async def list_threads(
        self, org_id: str, *, bridge_id: str | None = None, end_user: str | None = None,
        limit: int, cursor: str | None = None,
    ) -> Page[Thread]:
        """Newest first; `cursor` is the previous page's `next_cursor`."""

    async def update_thread(self, org_id: str, thread_id: str, changes: dict[str, Any]) -> Thread | None:
        """Set `title` and/or `metadata`; None when the thread is absent."""

    async def delete_thread(self, org_id: str, thread_id: str) -> bool:
        """Erase the thread and every message of it."""

    async def append(self, org_id: str, thread_id: str, messages: list[ThreadMessage]) -> int:
        """Add messages, skipping any whose (thread, job, seq) is stored already; returns
        how many were new. Raises NotFound when the thread is absent."""

    async def list_messages(
        self, org_id: str, thread_id: str, *, limit: int, cursor: str | None = None,
    ) -> Page[ThreadMessage]:
        """Oldest first, in (turn, seq) order."""

    async def recent_messages(
        self, org_id: str, thread_id: str, *, limit: int, before_turn: int | None = None,
    ) -> list[ThreadMessage]:
        """The newest `limit` messages (of turns before `before_turn`), newest first."""

    async def turn_messages(self, org_id: str, thread_id: str, turn: int) -> list[ThreadMessage]:
        """One turn's messages in seq order."""

    async def set_summary(
        self, org_id: str, thread_id: str, summary: str, *, through: int, expected_through: int,
    ) -> bool:
        """Store a new running summary if the stored one still covers `expected_through`
        (two refreshes racing: the first wins, the second is dropped)."""
