"""Builds the AuditLog: PostgreSQL when TIMESCALE_SERVICE_URL is set, else a list."""

from __future__ import annotations

from config import TimescaleSettings
from services.audit.memory_store import MemoryAuditStore
from services.audit.service import AuditLog
from services.audit.store import AuditStore


def build_audit_log(settings: TimescaleSettings) -> AuditLog:
    store: AuditStore
    if settings.url:
        from services.audit.postgres_store import PostgresAuditStore

        store = PostgresAuditStore(settings.url, db_schema=settings.db_schema)
    else:
        store = MemoryAuditStore()
    return AuditLog(store)
