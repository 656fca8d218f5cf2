"""AuditLog.record: the one way anything writes to the audit log."""

from __future__ import annotations

import logging
from typing import Any

from services.audit.mask import mask
from services.audit.model import AuditPage, AuditQuery, AuditRecord
from services.audit.store import AuditStore

log = logging.getLogger(__name__)


class AuditLog:
    def __init__(self, store: AuditStore) -> None:
        self.store = store

    async def record(
        self, *, org_id: str, actor_key_id: str | None, action: str, object_type: str, object_id: str,
        before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> AuditRecord:
        """Append one change. Secrets in `before` / `after` are masked here, whatever the caller sent."""
        record = AuditRecord(org_id=org_id, actor_key_id=actor_key_id, action=action, object_type=object_type,
                             object_id=object_id, before=mask(before) if before is not None else None,
                             after=mask(after) if after is not None else None, request_id=request_id)
        stored = await self.store.append(record)
        log.info("audit", extra={"org_id": org_id, "action": action, "object_type": object_type,
                                 "object_id": object_id, "actor_key_id": actor_key_id})
        return stored

    async def query(self, query: AuditQuery) -> AuditPage:
        return await self.store.query(query)
