"""Threads as callers see them: every read and write scoped to the caller's org, and for
an end user to the threads they own (anyone else's thread is "not found", never
"forbidden", so ids cannot be probed). Submitting a turn (`open_turn`) creates the thread
when needed and takes the turn's number, which the chatbot job carries.
"""

from __future__ import annotations

from typing import Any

from services.auth.principal import Principal
from services.config.paging import Page
from services.errors import NotFound
from services.threads.model import Thread, ThreadMessage
from services.threads.order_store import TurnOrder
from services.threads.store import ThreadStore


def _missing(thread_id: str) -> NotFound:
    return NotFound(f"thread {thread_id} not found", code="thread_not_found")


class ThreadService:
    def __init__(self, store: ThreadStore, order: TurnOrder) -> None:
        self._store, self._order = store, order

    async def get(self, principal: Principal, thread_id: str) -> Thread:
        thread = await self._store.get_thread(principal.org_id, thread_id)
        if thread is None or (principal.end_user is not None and thread.end_user != principal.end_user):
            raise _missing(thread_id)
        return thread

    async def list(
        self, principal: Principal, *, bridge_id: str | None, end_user: str | None, limit: int,
        cursor: str | None,
    ) -> Page[Thread]:
        if principal.end_user is not None:
            end_user = principal.end_user  # an end user lists their own threads, whatever they ask
        return await self._store.list_threads(principal.org_id, bridge_id=bridge_id, end_user=end_user,
                                              limit=limit, cursor=cursor)

    async def messages(
        self, principal: Principal, thread_id: str, *, limit: int, cursor: str | None,
    ) -> Page[ThreadMessage]:
        await self.get(principal, thread_id)
        return await self._store.list_messages(principal.org_id, thread_id, limit=limit, cursor=cursor)

    async def update(self, principal: Principal, thread_id: str, changes: dict[str, Any]) -> Thread:
        await self.get(principal, thread_id)
        updated = await self._store.update_thread(principal.org_id, thread_id, changes)
        if updated is None:
            raise _missing(thread_id)
        return updated

    async def delete(self, principal: Principal, thread_id: str) -> None:
        await self.get(principal, thread_id)
        if not await self._store.delete_thread(principal.org_id, thread_id):
            raise _missing(thread_id)
        await self._order.forget(thread_id)

    async def open_turn(
        self, principal: Principal, bridge_id: str, thread_id: str | None, *, bridge_slug: str | None = None,
        title: str = "",
    ) -> tuple[Thread, int]:
        """The thread a new turn goes to (created when `thread_id` is None) and the turn's
        number. Raises Forbidden when the principal's token allows neither the bridge's id
        nor its slug."""
        principal.require_bridge(bridge_id, bridge_slug)
        if thread_id is None:
            thread = Thread(org_id=principal.org_id, bridge_id=bridge_id, end_user=principal.end_user,
                            title=title)
            await self._store.create_thread(thread)
        else:
            thread = await self.get(principal, thread_id)
            if thread.bridge_id != bridge_id:
                raise _missing(thread_id)
        return thread, await self._order.assign(thread.id, floor=thread.last_turn)

    async def drop_turn(self, thread_id: str, turn: int) -> None:
        """A turn number that will never run (its job was not queued): let the next go."""
        await self._order.finish(thread_id, turn)
