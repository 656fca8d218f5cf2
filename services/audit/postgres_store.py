"""The audit log in PostgreSQL: an append-only table (a trigger refuses UPDATE, DELETE and
TRUNCATE, so not even a bug in this process, or an operator's slip, can rewrite history;
changing that needs DDL rights the application role should not hold)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from services.audit.memory_store import page_of
from services.audit.model import AuditPage, AuditQuery, AuditRecord
from services.errors import Unavailable

_LOCK_KEY = 0x61696D617564  # "aimaud": serializes schema set-up between processes
SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  org_id text NOT NULL,
  actor_key_id text,
  action text NOT NULL,
  object_type text NOT NULL,
  object_id text NOT NULL,
  before jsonb,
  after jsonb,
  request_id text
);
CREATE INDEX IF NOT EXISTS audit_log_org ON audit_log (org_id, id DESC);
CREATE INDEX IF NOT EXISTS audit_log_object ON audit_log (org_id, object_type, object_id, id DESC);
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END $$;
DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log;
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
"""
_INSERT = ("INSERT INTO audit_log (at, org_id, actor_key_id, action, object_type, object_id, before, after,"
           " request_id) VALUES (to_timestamp(%s), %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id")


def _record(row: dict[str, Any]) -> AuditRecord:
    return AuditRecord(id=row["id"], at=row["at"].timestamp(), org_id=row["org_id"],
                       actor_key_id=row["actor_key_id"], action=row["action"], object_type=row["object_type"],
                       object_id=row["object_id"], before=row["before"], after=row["after"],
                       request_id=row["request_id"])


class PostgresAuditStore:
    def __init__(self, url: str, *, db_schema: str | None = None, pool_max: int = 4) -> None:
        kwargs: dict[str, Any] = {"application_name": "ai-middleware-audit", "autocommit": True}
        if db_schema:
            kwargs["options"] = f"-c search_path={db_schema},public"
        # A change waits at most 5 s for the log; past that it answers 503 (the change itself
        # is saved: the caller learns the record is missing and can retry the write).
        self._pool = AsyncConnectionPool(url, min_size=1, max_size=pool_max, open=False, kwargs=kwargs,
                                         name="audit", timeout=5.0)

    async def open(self) -> None:
        await self._pool.open()
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            await conn.execute(SCHEMA.encode())

    async def close(self) -> None:
        await self._pool.close()

    async def append(self, record: AuditRecord) -> AuditRecord:
        r = record
        params = (r.at, r.org_id, r.actor_key_id, r.action, r.object_type, r.object_id,
                  Jsonb(r.before) if r.before is not None else None,
                  Jsonb(r.after) if r.after is not None else None, r.request_id)
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(_INSERT, params)
                row = await cur.fetchone()
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise Unavailable("the audit log is unavailable", code="audit_unavailable", retry_after_s=5) from exc
        assert row is not None
        return record.model_copy(update={"id": row[0]})

    async def query(self, query: AuditQuery) -> AuditPage:
        where: list[sql.Composable] = [sql.SQL("org_id = %s")]
        params: list[Any] = [query.org_id]
        for column, value in (("object_type", query.object_type), ("object_id", query.object_id),
                              ("actor_key_id", query.actor_key_id)):
            if value is not None:
                where.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
                params.append(value)
        if query.before_id is not None:
            where.append(sql.SQL("id < %s"))
            params.append(query.before_id)
        statement = sql.SQL("SELECT * FROM audit_log WHERE {} ORDER BY id DESC LIMIT %s").format(
            sql.SQL(" AND ").join(where))
        params.append(query.limit + 1)
        async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(statement, params)
            rows = await cur.fetchall()
        return page_of([_record(row) for row in rows], query.limit)
