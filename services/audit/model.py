"""An audit record: one change to one object, by one key."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field


class AuditRecord(BaseModel):
    # Assigned by the store, increasing: the order of the log and its cursor.
    id: int = 0
    org_id: str
    actor_key_id: str | None
    action: str
    object_type: str
    object_id: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    request_id: str | None = None
    at: float = Field(default_factory=time.time)


@dataclass(frozen=True)
class AuditQuery:
    """Newest first; `before_id` is the cursor (the last id of the previous page)."""

    org_id: str
    object_type: str | None = None
    object_id: str | None = None
    actor_key_id: str | None = None
    before_id: int | None = None
    limit: int = 50


@dataclass
class AuditPage:
    records: list[AuditRecord] = field(default_factory=list)
    next_cursor: str | None = None
