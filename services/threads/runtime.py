"""Builds the threads domain from settings and clients (used by the composition root).

`start_threads` gives the API what it serves (store, turn order, service); a worker adds
`chatbot_executor`, which also needs the chat completer for answers and summaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config import Settings
from services.chat.completer import ChatCompleter
from services.threads.executor import ChatbotExecutor
from services.threads.memory import HistoryAssembler
from services.threads.order_store import TurnOrder
from services.threads.service import ThreadService
from services.threads.store import ThreadStore
from services.threads.summary import BackgroundSummaries, SummaryRefresher
from services.threads.tokens import TokenCounter


@dataclass
class ThreadsRuntime:
    store: ThreadStore
    order: TurnOrder
    service: ThreadService

    async def close(self) -> None:
        await self.order.close()
        await self.store.close()


async def start_threads(settings: Settings, redis: Any | None, *, database: Any = None) -> ThreadsRuntime:
    """MongoDB when MONGODB_CONNECTION_URI is set (else a file under APP_DATA_DIR); the turn
    order in Redis when there is a client (else in process)."""
    store: ThreadStore
    if settings.mongo.url:
        from services.threads.mongo_store import MongoThreadStore

        # The process's shared Mongo database when given (one client per process).
        store = MongoThreadStore(database=database) if database is not None else MongoThreadStore(settings.mongo)
    else:
        from services.threads.memory_store import MemoryThreadStore

        store = MemoryThreadStore(Path(settings.app.data_dir) / "threads.json")
    await store.connect()
    t = settings.threads
    order: TurnOrder
    if redis is not None:
        from services.threads.redis_order_store import RedisTurnOrder

        order = RedisTurnOrder(redis, key_prefix=settings.redis.key_prefix, lease_s=t.turn_lease_s,
                               stall_s=t.turn_stall_s, ttl_s=t.order_ttl_s)
    else:
        from services.threads.memory_order_store import MemoryTurnOrder

        order = MemoryTurnOrder(lease_s=t.turn_lease_s, stall_s=t.turn_stall_s)
    return ThreadsRuntime(store, order, ThreadService(store, order))


def chatbot_executor(
    runtime: ThreadsRuntime, completer: ChatCompleter, settings: Settings,
) -> tuple[ChatbotExecutor, BackgroundSummaries]:
    """The `chatbot` executor and its summary tasks (close them at shutdown)."""
    assembler = HistoryAssembler(runtime.store, TokenCounter())
    summaries = BackgroundSummaries(SummaryRefresher(runtime.store, assembler, completer, settings.threads))
    executor = ChatbotExecutor(runtime.store, runtime.order, assembler, completer, summaries,
                               turn_wait_s=settings.threads.turn_wait_s, lease_s=settings.threads.turn_lease_s)
    return executor, summaries
