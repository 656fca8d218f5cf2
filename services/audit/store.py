"""The audit log port: append and read, never change."""

from __future__ import annotations

from typing import Protocol

from services.audit.model import AuditPage, AuditQuery, AuditRecord


class AuditStore(Protocol):
    """Append-only: there is no update or delete, and the PostgreSQL table refuses both."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def append(self, record: AuditRecord) -> AuditRecord:
        """Store `record`; returns it with its id."""
        ...

    async def query(self, query: AuditQuery) -> AuditPage:
        """The org's records matching the filters, newest first."""
        ...
