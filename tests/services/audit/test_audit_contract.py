"""One contract for every AuditStore (a list and PostgreSQL), through AuditLog."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
import pytest

from services.audit.memory_store import MemoryAuditStore
from services.audit.model import AuditQuery
from services.audit.postgres_store import PostgresAuditStore
from services.audit.service import AuditLog
from tests.conftest import require_env


@asynccontextmanager
async def postgres_store(schema: str) -> AsyncIterator[PostgresAuditStore]:
    """A store in its own schema, dropped afterwards."""
    url = require_env("TIMESCALE_SERVICE_URL")
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(f"CREATE SCHEMA {schema}")
    store = PostgresAuditStore(url, db_schema=schema)
    await store.open()
    try:
        yield store
    finally:
        await store.close()
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["memory", "postgres"])
async def audit(request: pytest.FixtureRequest, unique: str) -> AsyncIterator[AuditLog]:
    if request.param == "memory":
        yield AuditLog(MemoryAuditStore())
        return
    async with postgres_store(f"audit_{unique}") as store:
        yield AuditLog(store)


async def test_records_are_masked_filtered_and_paged_newest_first(audit: AuditLog) -> None:
    await audit.record(org_id="o1", actor_key_id="key_a", action="credential.saved", object_type="credential",
                       object_id="cr_1", after={"service": "openai", "api_key": "sk-live-abcdefgh12345678"},
                       request_id="req-1")
    for i in range(3):
        await audit.record(org_id="o1", actor_key_id="key_b", action="bridge.updated", object_type="bridge",
                           object_id="br_1", before={"name": f"v{i}"}, after={"name": f"v{i + 1}"})
    await audit.record(org_id="o2", actor_key_id="key_c", action="bridge.created", object_type="bridge",
                       object_id="br_1")

    first = await audit.query(AuditQuery(org_id="o1", limit=2))
    assert [r.action for r in first.records] == ["bridge.updated", "bridge.updated"]
    assert first.records[0].after == {"name": "v3"} and first.next_cursor is not None
    rest = await audit.query(AuditQuery(org_id="o1", limit=2, before_id=int(first.next_cursor)))
    assert [r.action for r in rest.records] == ["bridge.updated", "credential.saved"]
    assert rest.next_cursor is None
    saved = rest.records[-1]
    assert saved.after == {"service": "openai", "api_key": "...5678"} and saved.request_id == "req-1"
    assert saved.actor_key_id == "key_a" and saved.at > 0

    by_actor = await audit.query(AuditQuery(org_id="o1", actor_key_id="key_a"))
    assert [r.object_id for r in by_actor.records] == ["cr_1"]
    by_object = await audit.query(AuditQuery(org_id="o2", object_type="bridge", object_id="br_1"))
    assert [r.actor_key_id for r in by_object.records] == ["key_c"]  # the other org's is unseen


async def test_postgres_table_refuses_update_delete_and_truncate(unique: str) -> None:
    schema = f"audit_{unique}"
    async with postgres_store(schema) as store:
        await AuditLog(store).record(org_id="o", actor_key_id="k", action="a", object_type="t", object_id="i")
        async with await psycopg.AsyncConnection.connect(require_env("TIMESCALE_SERVICE_URL"),
                                                         autocommit=True) as conn:
            for statement in (f"UPDATE {schema}.audit_log SET action = 'x'", f"DELETE FROM {schema}.audit_log",
                              f"TRUNCATE {schema}.audit_log"):
                with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                    await conn.execute(statement)
        page = await AuditLog(store).query(AuditQuery(org_id="o"))
        assert [r.action for r in page.records] == ["a"]
