"""URL documents: fetched through the address guard (loopback allow-listed for the test),
parsed by content type; a refetch of an unchanged page re-indexes nothing."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.net.guard import NetPolicy
from services.rag.chunks.memory_store import MemoryChunkStore
from services.rag.ingest.queue import InProcessIngest
from services.rag.memory_store import MemoryRagRepository
from services.rag.model import DocumentStatus, SourceKind
from services.rag.schemas import CollectionCreate
from services.rag.search import SearchMode, SearchQuery
from tests.services.rag.support import rag_service
from tests.serving import serve

PAGE = b"<html><body><h1>Parking</h1><p>Visitors park on level 2.</p></body></html>"


async def test_url_fetched_parsed_and_refetch_is_noop(tmp_path: Path) -> None:
    fetches: list[str] = []

    async def page(request: Request) -> Response:
        fetches.append(request.url.path)
        return Response(PAGE, media_type="text/html")

    app = Starlette(routes=[Route("/handbook", page)])
    chunks = MemoryChunkStore(tmp_path)
    policy = NetPolicy.build(allow_cidrs=["127.0.0.0/8"])
    service, _ = rag_service(MemoryRagRepository(tmp_path), chunks, policy=policy)
    assert isinstance(service.queue, InProcessIngest)
    col = await service.create_collection("org_a", CollectionCreate(name="web"))
    async with serve(app) as base:
        doc, _ = await service.add_document("org_a", col.id, kind=SourceKind.URL, url=f"{base}/handbook")
        await service.queue.drain()
        ready = await service.document("org_a", col.id, doc.id)
        assert ready.status is DocumentStatus.READY and ready.chunk_count == 1, ready.error
        hits = await service.search("org_a", col.id, SearchQuery(query="visitors park", mode=SearchMode.KEYWORD))
        assert hits[0].chunk.heading == "Parking"
        first_chunk = hits[0].chunk.id
        again, _ = await service.add_document("org_a", col.id, kind=SourceKind.URL, url=f"{base}/handbook")
        await service.queue.drain()
    assert again.id == doc.id and len(fetches) == 2
    assert await chunks.count(col) == 1
    hits = await service.search("org_a", col.id, SearchQuery(query="visitors park", mode=SearchMode.KEYWORD))
    assert hits[0].chunk.id == first_chunk
