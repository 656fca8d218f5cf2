"""The rerank step over real retrieval, with a recording ChatCompleter (our own port)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.errors import Invalid
from services.rag.chunks.memory_store import MemoryChunkStore
from services.rag.ingest.queue import InProcessIngest
from services.rag.memory_store import MemoryRagRepository
from services.rag.model import SourceKind
from services.rag.rerank import LlmReranker, order_from
from services.rag.schemas import CollectionCreate
from services.rag.search import Searcher, SearchMode, SearchQuery
from tests.services.rag.support import RecordingCompleter, corpus, rag_service


def test_order_from_model_answers() -> None:
    assert order_from("Ranking: [3, 1]", 4) == [2, 0, 1, 3]
    assert order_from("[9, 2, 2]", 3) == [1, 0, 2]
    assert order_from("I cannot rank these", 3) is None
    assert order_from("[]", 3) is None


async def test_rerank_reorders_candidates(tmp_path: Path) -> None:
    service, _ = rag_service(MemoryRagRepository(tmp_path), MemoryChunkStore(tmp_path))
    col = await service.create_collection("org_a", CollectionCreate(name="animals"))
    for name, text in corpus(5):
        await service.add_document("org_a", col.id, kind=SourceKind.MARKDOWN, data=text.encode(), external_id=name)
    assert isinstance(service.queue, InProcessIngest)
    await service.queue.drain()
    query = SearchQuery(query="zorblat2 diet", k=3, mode=SearchMode.KEYWORD)
    plain = await service.search("org_a", col.id, query)
    completer = RecordingCompleter("[3, 2, 1]")
    searcher = Searcher(service.chunks, service.embeddings, reranker=LlmReranker(completer, provider="mock",
                                                                                   model="mock-0ms"))
    reranked = await searcher.search(col, query.model_copy(update={"rerank": True}))
    assert [h.chunk.id for h in reranked] == [h.chunk.id for h in plain][::-1]
    prompt = completer.payloads[0].messages[0].content
    assert isinstance(prompt, str) and prompt.startswith("Question: zorblat2 diet") and "[1]" in prompt
    with pytest.raises(Invalid) as bad:
        await service.search("org_a", col.id, query.model_copy(update={"rerank": True}))
    assert bad.value.field == "rerank"
