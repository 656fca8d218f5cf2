"""PostgreSQL + pgvector chunk store: HNSW (cosine) for vectors, full-text search for words.

One table per embedding dimension (`rag_chunks_d256`, `rag_chunks_d1536`, ...), since an
HNSW index needs a fixed dimension; a collection fixes its dimension at creation, so it
always lives in one table. pgvector indexes up to 2,000 dims: a wider model's table gets
no HNSW index and is scanned exactly. `hnsw.ef_search` is raised per query (default 40)
because the org/collection filter is applied after the index walk: with many collections
in one table, 40 candidates could leave fewer than k of the asked collection.

Keywords: a generated `tsvector` (english) with a GIN index; the query is the OR of its
words (`a | b | c`) ranked by `ts_rank`, since a question rarely has every word in one chunk.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from pgvector.psycopg import register_vector_async
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from services.rag.chunks.filters import normalize
from services.rag.chunks.store import Filters
from services.rag.model import Chunk, Collection, Hit

HNSW_MAX_DIM = 2000
_WORD = re.compile(r"\w+")
_COLUMNS = "id, org_id, collection_id, document_id, ordinal, text, start_offset, end_offset, heading, metadata"


def _ddl(dim: int) -> list[str]:
    t = f"rag_chunks_d{dim}"
    ddl = [
        "CREATE EXTENSION IF NOT EXISTS vector",
        f"""CREATE TABLE IF NOT EXISTS {t} (
            id text PRIMARY KEY, org_id text NOT NULL, collection_id text NOT NULL,
            document_id text NOT NULL, ordinal int NOT NULL, text text NOT NULL,
            start_offset int NOT NULL, end_offset int NOT NULL, heading text NOT NULL DEFAULT '',
            metadata jsonb NOT NULL DEFAULT '{{}}', embedding vector({dim}) NOT NULL,
            tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED)""",
        f"CREATE INDEX IF NOT EXISTS {t}_doc ON {t} (collection_id, document_id)",
        f"CREATE INDEX IF NOT EXISTS {t}_tsv ON {t} USING gin (tsv)",
        f"CREATE INDEX IF NOT EXISTS {t}_meta ON {t} USING gin (metadata jsonb_path_ops)",
    ]
    if dim <= HNSW_MAX_DIM:
        ddl.append(f"CREATE INDEX IF NOT EXISTS {t}_hnsw ON {t} USING hnsw (embedding vector_cosine_ops)")
    return ddl


def _where(collection: Collection, filters: Filters | None) -> tuple[str, list[Any]]:
    sql = ["org_id = %s", "collection_id = %s"]
    args: list[Any] = [collection.org_id, collection.id]
    for name, values in normalize(filters).items():
        if name == "document_id":
            sql.append("document_id = ANY(%s)")
            args.append([str(v) for v in values])
        else:
            sql.append("(" + " OR ".join(["metadata @> %s"] * len(values)) + ")")
            args.extend(Jsonb({name: v}) for v in values)
    return " AND ".join(sql), args


def _hit(row: dict[str, Any]) -> Hit:
    chunk = Chunk(id=row["id"], org_id=row["org_id"], collection_id=row["collection_id"],
                  document_id=row["document_id"], ordinal=row["ordinal"], text=row["text"],
                  start=row["start_offset"], end=row["end_offset"], heading=row["heading"],
                  metadata=row["metadata"])
    return Hit(chunk=chunk, score=float(row["score"]))


class PgvectorChunkStore:
    def __init__(self, url: str, *, pool_max: int = 10, ef_search: int = 100) -> None:
        self._url = url
        self._pool_max = pool_max
        self._ef_search = ef_search
        self._pool: AsyncConnectionPool[Any] | None = None
        self._tables: set[int] = set()

    async def connect(self) -> None:
        if self._pool is not None:
            return
        async with await AsyncConnection.connect(self._url, autocommit=True) as conn:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        self._pool = AsyncConnectionPool(self._url, min_size=1, max_size=self._pool_max, open=False,
                                         configure=register_vector_async, kwargs={"autocommit": True})
        await self._pool.open(wait=True)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @property
    def pool(self) -> AsyncConnectionPool[Any]:
        if self._pool is None:
            raise RuntimeError("PgvectorChunkStore.connect() was not awaited")
        return self._pool

    async def _table(self, dim: int) -> str:
        if dim not in self._tables:
            async with self.pool.connection() as conn, conn.transaction():
                # Concurrent CREATE ... IF NOT EXISTS can still collide on the catalog.
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext('rag_chunks_ddl'))")
                for statement in _ddl(dim):
                    await conn.execute(statement)  # type: ignore[arg-type]
            self._tables.add(dim)
        return f"rag_chunks_d{dim}"

    async def replace_document(
        self, collection: Collection, document_id: str, chunks: list[Chunk], vectors: list[list[float]],
    ) -> None:
        table = await self._table(collection.embedding.dimension)
        rows = [(c.id, c.org_id, c.collection_id, c.document_id, c.ordinal, c.text, c.start, c.end,
                 c.heading, Jsonb(c.metadata), np.asarray(v, dtype=np.float32))
                for c, v in zip(chunks, vectors, strict=True)]
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(f"DELETE FROM {table} WHERE org_id = %s AND collection_id = %s "  # type: ignore[arg-type]
                               "AND document_id = %s", (collection.org_id, collection.id, document_id))
            # COPY: ~10x the rows/s of a batched INSERT here.
            async with conn.cursor() as cur, cur.copy(
                    f"COPY {table} ({_COLUMNS}, embedding) FROM STDIN") as copy:  # type: ignore[arg-type]
                for row in rows:
                    await copy.write_row(row)

    async def _delete(self, collection: Collection, extra: str, args: tuple[Any, ...]) -> int:
        table = await self._table(collection.embedding.dimension)
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f"DELETE FROM {table} WHERE org_id = %s AND collection_id = %s{extra}",  # type: ignore[arg-type]
                (collection.org_id, collection.id, *args))
            return cur.rowcount

    async def delete_document(self, collection: Collection, document_id: str) -> int:
        return await self._delete(collection, " AND document_id = %s", (document_id,))

    async def delete_collection(self, collection: Collection) -> int:
        return await self._delete(collection, "", ())

    async def count(self, collection: Collection, document_id: str | None = None) -> int:
        table = await self._table(collection.embedding.dimension)
        where, args = _where(collection, {"document_id": document_id} if document_id else None)
        async with self.pool.connection() as conn:
            cur = await conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", args)  # type: ignore[arg-type]
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def vector_search(
        self, collection: Collection, vector: list[float], k: int, filters: Filters | None = None,
    ) -> list[Hit]:
        table = await self._table(collection.embedding.dimension)
        where, args = _where(collection, filters)
        query = np.asarray(vector, dtype=np.float32)
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(f"SET LOCAL hnsw.ef_search = {max(self._ef_search, k)}")  # type: ignore[arg-type]
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f"SELECT {_COLUMNS}, 1 - (embedding <=> %s) AS score FROM {table} "  # type: ignore[arg-type]
                f"WHERE {where} ORDER BY embedding <=> %s LIMIT %s", [query, *args, query, k])
            return [_hit(r) for r in await cur.fetchall()]

    async def keyword_search(
        self, collection: Collection, query: str, k: int, filters: Filters | None = None,
    ) -> list[Hit]:
        words = _WORD.findall(query)
        if not words:
            return []
        table = await self._table(collection.embedding.dimension)
        where, args = _where(collection, filters)
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                f"SELECT {_COLUMNS}, ts_rank(tsv, q, 1) AS score "  # type: ignore[arg-type]
                f"FROM {table}, to_tsquery('english', %s) q WHERE tsv @@ q AND {where} "
                "ORDER BY score DESC, id LIMIT %s", [" | ".join(words), *args, k])
            return [_hit(r) for r in await cur.fetchall()]
