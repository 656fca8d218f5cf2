"""The embedded audit log: a list, for `python index.py` and tests."""

from __future__ import annotations

from services.audit.model import AuditPage, AuditQuery, AuditRecord


def page_of(records: list[AuditRecord], limit: int) -> AuditPage:
    more = len(records) > limit
    records = records[:limit]
    return AuditPage(records=records, next_cursor=str(records[-1].id) if more else None)


class MemoryAuditStore:
    def __init__(self) -> None:
        self._records: list[AuditRecord] = []

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def append(self, record: AuditRecord) -> AuditRecord:
        stored = record.model_copy(update={"id": len(self._records) + 1}, deep=True)
        self._records.append(stored)
        return stored.model_copy(deep=True)

    async def query(self, query: AuditQuery) -> AuditPage:
        found = [
            r.model_copy(deep=True) for r in reversed(self._records)
            if r.org_id == query.org_id
            and (query.object_type is None or r.object_type == query.object_type)
            and (query.object_id is None or r.object_id == query.object_id)
            and (query.actor_key_id is None or r.actor_key_id == query.actor_key_id)
            and (query.before_id is None or r.id < query.before_id)
        ]
        return page_of(found[:query.limit + 1], query.limit)
