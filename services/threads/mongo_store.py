"""MongoDB adapter of the thread store, on PyMongo's async API (`AsyncMongoClient`).

Collections and the indexes their queries need (created at connect):
- `threads`: `_id` is the thread id (time-ordered, so `_id` order is creation order);
  (org_id, _id) serves the org's list, (org_id, bridge_id, _id) and (org_id, end_user, _id)
  its filtered lists, all newest first.
- `thread_messages`: unique (thread_id, job_id, seq) makes an append idempotent (a
  redelivered job's insert hits the index and is skipped); (thread_id, turn, seq) serves
  paging, the recent window and one turn's read.
"""

from __future__ import annotations

import time
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.config.mongo_client import MongoDatabase
from services.config.paging import Page, page_of
from services.errors import NotFound
from services.threads.memory_store import message_cursor, parse_message_cursor
from services.threads.model import Thread, ThreadMessage


def _doc(model: Thread | ThreadMessage) -> dict[str, Any]:
    doc: dict[str, Any] = model.model_dump(mode="json")
    doc["_id"] = doc.pop("id")
    return doc


def _thread(doc: dict[str, Any] | None) -> Thread | None:
    if doc is None:
        return None
    return Thread.model_validate({**doc, "id": doc["_id"]})


def _message(doc: dict[str, Any]) -> ThreadMessage:
    return ThreadMessage.model_validate({**doc, "id": doc["_id"]})


class MongoThreadStore(MongoDatabase):
    """Opens the process's shared database when given one, else its own client at connect."""

    async def connect(self) -> None:
        await super().connect()
        threads, messages = self.db.threads, self.db.thread_messages
        await threads.create_index([("org_id", ASCENDING), ("_id", DESCENDING)])
        await threads.create_index([("org_id", ASCENDING), ("bridge_id", ASCENDING), ("_id", DESCENDING)])
        await threads.create_index([("org_id", ASCENDING), ("end_user", ASCENDING), ("_id", DESCENDING)])
        await messages.create_index(
            [("thread_id", ASCENDING), ("job_id", ASCENDING), ("seq", ASCENDING)], unique=True,
            name="thread_job_seq_unique")
        await messages.create_index([("thread_id", ASCENDING), ("turn", ASCENDING), ("seq", ASCENDING)])

    async def create_thread(self, thread: Thread) -> None:
        await self.db.threads.insert_one(_doc(thread))

    async def get_thread(self, org_id: str, thread_id: str) -> Thread | None:
        return _thread(await self.db.threads.find_one({"_id": thread_id, "org_id": org_id}))

    async def list_threads(
        self, org_id: str, *, bridge_id: str | None = None, end_user: str | None = None,
        limit: int, cursor: str | None = None,
    ) -> Page[Thread]:
        query: dict[str, Any] = {"org_id": org_id}
        if bridge_id is not None:
            query["bridge_id"] = bridge_id
        if end_user is not None:
            query["end_user"] = end_user
        if cursor:
            query["_id"] = {"$lt": cursor}
        docs = await self.db.threads.find(query).sort("_id", DESCENDING).limit(limit + 1).to_list(None)
        return page_of([t for t in map(_thread, docs) if t is not None], limit, lambda t: t.id)

    async def update_thread(self, org_id: str, thread_id: str, changes: dict[str, Any]) -> Thread | None:
        fields = {k: v for k, v in changes.items() if k in ("title", "metadata")}
        doc = await self.db.threads.find_one_and_update(
            {"_id": thread_id, "org_id": org_id}, {"$set": {**fields, "updated_at": time.time()}},
            return_document=ReturnDocument.AFTER)
        return _thread(doc)

    async def delete_thread(self, org_id: str, thread_id: str) -> bool:
        result = await self.db.threads.delete_one({"_id": thread_id, "org_id": org_id})
        if not result.deleted_count:
            return False
        await self.db.thread_messages.delete_many({"thread_id": thread_id, "org_id": org_id})
        return True

    async def append(self, org_id: str, thread_id: str, messages: list[ThreadMessage]) -> int:
        if await self.db.threads.find_one({"_id": thread_id, "org_id": org_id}, {"_id": 1}) is None:
            raise NotFound("thread not found", code="thread_not_found")
        added = 0
        for message in messages:
            key = {"thread_id": thread_id, "job_id": message.job_id, "seq": message.seq}
            try:
                result = await self.db.thread_messages.update_one(
                    key, {"$setOnInsert": _doc(message)}, upsert=True)
            except DuplicateKeyError:
                continue  # a concurrent redelivery inserted it first
            added += 1 if result.upserted_id is not None else 0
        if messages:
            await self.db.threads.update_one(
                {"_id": thread_id, "org_id": org_id},
                {"$max": {"last_turn": max(m.turn for m in messages)}, "$set": {"updated_at": time.time()}})
        return added

    async def list_messages(
        self, org_id: str, thread_id: str, *, limit: int, cursor: str | None = None,
    ) -> Page[ThreadMessage]:
        query: dict[str, Any] = {"thread_id": thread_id, "org_id": org_id}
        if cursor:
            turn, seq = parse_message_cursor(cursor)
            query["$or"] = [{"turn": {"$gt": turn}}, {"turn": turn, "seq": {"$gt": seq}}]
        docs = await (self.db.thread_messages.find(query)
                      .sort([("turn", ASCENDING), ("seq", ASCENDING)]).limit(limit + 1).to_list(None))
        return page_of([_message(d) for d in docs], limit, message_cursor)

    async def recent_messages(
        self, org_id: str, thread_id: str, *, limit: int, before_turn: int | None = None,
    ) -> list[ThreadMessage]:
        query: dict[str, Any] = {"thread_id": thread_id, "org_id": org_id}
        if before_turn is not None:
            query["turn"] = {"$lt": before_turn}
        docs = await (self.db.thread_messages.find(query)
                      .sort([("turn", DESCENDING), ("seq", DESCENDING)]).limit(limit).to_list(None))
        return [_message(d) for d in docs]

    async def turn_messages(self, org_id: str, thread_id: str, turn: int) -> list[ThreadMessage]:
        docs = await (self.db.thread_messages.find({"thread_id": thread_id, "org_id": org_id, "turn": turn})
                      .sort("seq", ASCENDING).to_list(None))
        return [_message(d) for d in docs]

    async def set_summary(
        self, org_id: str, thread_id: str, summary: str, *, through: int, expected_through: int,
    ) -> bool:
        result = await self.db.threads.update_one(
            {"_id": thread_id, "org_id": org_id, "summary_through": expected_through},
            {"$set": {"summary": summary, "summary_through": through}})
        return bool(result.matched_count)
