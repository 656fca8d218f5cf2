"""In-process thread store; saved to a JSON file when given a path (`make run` keeps
conversations across restarts). Every read returns a copy, as a database would."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson

from services.common.jsonfile import CoalescedSave
from services.config.paging import Page, page_of
from services.errors import Invalid, NotFound
from services.threads.model import Thread, ThreadMessage

MessageKey = tuple[str, int]  # (job_id, seq): what makes an append idempotent


def message_cursor(message: ThreadMessage) -> str:
    return f"{message.turn}.{message.seq}"


def parse_message_cursor(cursor: str) -> tuple[int, int]:
    turn, _, seq = cursor.partition(".")
    try:
        return int(turn), int(seq)
    except ValueError:
        raise Invalid("cursor is not one this API returned", field="cursor") from None


class MemoryThreadStore:
    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._threads: dict[str, Thread] = {}
        # thread id -> messages in (turn, seq) order, and the keys already stored.
        self._messages: dict[str, list[ThreadMessage]] = {}
        self._keys: dict[str, set[MessageKey]] = {}
        self._lock = asyncio.Lock()
        self._saver = CoalescedSave(path, self._snapshot) if path else None

    async def connect(self) -> None:
        if not (self._path and self._path.exists()):
            return
        data = orjson.loads(self._path.read_bytes())
        for raw in data.get("threads", []):
            thread = Thread.model_validate(raw)
            self._threads[thread.id] = thread
            self._messages[thread.id], self._keys[thread.id] = [], set()
        for raw in data.get("messages", []):
            message = ThreadMessage.model_validate(raw)
            self._messages[message.thread_id].append(message)
            self._keys[message.thread_id].add((message.job_id, message.seq))

    async def close(self) -> None:
        if self._saver is not None:
            self._saver.flush()

    def _snapshot(self) -> dict[str, Any]:
        return {
            "threads": [t.model_dump(mode="json") for t in self._threads.values()],
            "messages": [m.model_dump(mode="json") for ms in self._messages.values() for m in ms],
        }

    def _save(self) -> None:
        if self._saver is not None:
            self._saver.request()

    def _own(self, org_id: str, thread_id: str) -> Thread | None:
        thread = self._threads.get(thread_id)
        return thread if thread is not None and thread.org_id == org_id else None

    async def create_thread(self, thread: Thread) -> None:
        async with self._lock:
            self._threads[thread.id] = thread.model_copy(deep=True)
            self._messages[thread.id], self._keys[thread.id] = [], set()
            self._save()

    async def get_thread(self, org_id: str, thread_id: str) -> Thread | None:
        thread = self._own(org_id, thread_id)
        return thread.model_copy(deep=True) if thread else None

    async def list_threads(
        self, org_id: str, *, bridge_id: str | None = None, end_user: str | None = None,
        limit: int, cursor: str | None = None,
    ) -> Page[Thread]:
        rows = sorted(
            (t for t in self._threads.values()
             if t.org_id == org_id and (bridge_id is None or t.bridge_id == bridge_id)
             and (end_user is None or t.end_user == end_user) and (cursor is None or t.id < cursor)),
            key=lambda t: t.id, reverse=True,
        )[: limit + 1]
        return page_of([t.model_copy(deep=True) for t in rows], limit, lambda t: t.id)

    async def update_thread(self, org_id: str, thread_id: str, changes: dict[str, Any]) -> Thread | None:
        async with self._lock:
            thread = self._own(org_id, thread_id)
            if thread is None:
                return None
            allowed = {k: v for k, v in changes.items() if k in ("title", "metadata")}
            updated = thread.model_copy(update={**allowed, "updated_at": time.time()}, deep=True)
            self._threads[thread_id] = updated
            self._save()
            return updated.model_copy(deep=True)

    async def delete_thread(self, org_id: str, thread_id: str) -> bool:
        async with self._lock:
            if self._own(org_id, thread_id) is None:
                return False
            del self._threads[thread_id], self._messages[thread_id], self._keys[thread_id]
            self._save()
            return True

    async def append(self, org_id: str, thread_id: str, messages: list[ThreadMessage]) -> int:
        async with self._lock:
            thread = self._own(org_id, thread_id)
            if thread is None:
                raise NotFound("thread not found", code="thread_not_found")
            keys, stored = self._keys[thread_id], self._messages[thread_id]
            new = [m for m in messages if (m.job_id, m.seq) not in keys]
            for message in new:
                keys.add((message.job_id, message.seq))
                stored.append(message.model_copy(deep=True))
            if new:
                stored.sort(key=lambda m: (m.turn, m.seq))
                thread.last_turn = max(thread.last_turn, *(m.turn for m in new))
                thread.updated_at = time.time()
                self._save()
            return len(new)

    async def list_messages(
        self, org_id: str, thread_id: str, *, limit: int, cursor: str | None = None,
    ) -> Page[ThreadMessage]:
        if self._own(org_id, thread_id) is None:
            return Page(items=[], next_cursor=None)
        after = parse_message_cursor(cursor) if cursor else (0, -1)
        rows = [m for m in self._messages[thread_id] if (m.turn, m.seq) > after][: limit + 1]
        return page_of([m.model_copy(deep=True) for m in rows], limit, message_cursor)

    async def recent_messages(
        self, org_id: str, thread_id: str, *, limit: int, before_turn: int | None = None,
    ) -> list[ThreadMessage]:
        if self._own(org_id, thread_id) is None:
            return []
        out: list[ThreadMessage] = []
        for message in reversed(self._messages[thread_id]):
            if before_turn is not None and message.turn >= before_turn:
                continue
            out.append(message.model_copy(deep=True))
            if len(out) == limit:
                break
        return out

    async def turn_messages(self, org_id: str, thread_id: str, turn: int) -> list[ThreadMessage]:
        if self._own(org_id, thread_id) is None:
            return []
        return [m.model_copy(deep=True) for m in self._messages[thread_id] if m.turn == turn]

    async def set_summary(
        self, org_id: str, thread_id: str, summary: str, *, through: int, expected_through: int,
    ) -> bool:
        async with self._lock:
            thread = self._own(org_id, thread_id)
            if thread is None or thread.summary_through != expected_through:
                return False
            thread.summary, thread.summary_through = summary, through
            self._save()
            return True
