"""RagExecutor with real retrieval (offline embedder, embedded store) and a recording
ChatCompleter (our own port) standing in for the chat executor."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.bridges.model import BridgeSpec, BridgeStatus, BridgeType, ResolvedBridge
from services.errors import NotFound
from services.jobs.executor import Executor, RunAttempts
from services.jobs.model import Job, JobKind
from services.rag.chunks.memory_store import MemoryChunkStore
from services.rag.executor import RagExecutor, RagJobPayload
from services.rag.ingest.queue import InProcessIngest
from services.rag.memory_store import MemoryRagRepository
from services.rag.model import SourceKind
from services.rag.schemas import CollectionCreate
from tests.services.rag.support import RecordingCompleter, corpus, rag_service


async def _setup(tmp_path: Path, answer: str) -> tuple[RagExecutor, RecordingCompleter, str, dict[str, str]]:
    service, _ = rag_service(MemoryRagRepository(tmp_path), MemoryChunkStore(tmp_path))
    col = await service.create_collection("org_a", CollectionCreate(name="animals"))
    ids = {}
    for name, text in corpus(10):
        doc, _ = await service.add_document("org_a", col.id, kind=SourceKind.MARKDOWN, data=text.encode(),
                                            external_id=name)
        ids[name] = doc.id
    assert isinstance(service.queue, InProcessIngest)
    await service.queue.drain()
    completer = RecordingCompleter(answer)
    return RagExecutor(service, completer), completer, col.id, ids


async def test_answer_cites_numbered_sources(tmp_path: Path) -> None:
    executor, completer, col, ids = await _setup(tmp_path, "It eats 21 kinds of seeds [1].")
    assert isinstance(executor, Executor)
    job = Job(org_id="org_a", kind=JobKind.RAG)
    payload = {"collections": [col], "question": "What does zorblat7 eat?", "k": 3,
               "provider": "openai", "model": "gpt-4o-mini"}
    outcome = await executor.run(job, RagJobPayload.model_validate(payload), RunAttempts())
    sent = completer.payloads[0]
    assert (sent.provider, sent.model) == ("openai", "gpt-4o-mini")
    assert sent.system is not None and "[1]" in sent.system and "[3]" in sent.system
    assert "zorblat7" in sent.system.split("[2]")[0]  # the best source is number 1
    assert sent.messages[-1].content == "What does zorblat7 eat?"
    assert outcome.result["content"] == "It eats 21 kinds of seeds [1]."
    [cite] = outcome.result["citations"]
    assert cite["n"] == 1 and cite["document_id"] == ids["zorblat7"]
    assert "zorblat7" in cite["snippet"] and cite["chunk_id"].startswith(ids["zorblat7"])
    assert outcome.extra["retrieval"]["hits"] == 3 and ids["zorblat7"] in outcome.extra["retrieval"]["documents"]


async def test_another_orgs_collection_is_not_found(tmp_path: Path) -> None:
    executor, _, col, _ = await _setup(tmp_path, "x")
    with pytest.raises(NotFound):
        await executor.run(Job(org_id="org_b", kind=JobKind.RAG),
                           RagJobPayload(collections=[col], question="zorblat7?"), RunAttempts())


def test_payload_names_bad_fields() -> None:
    with pytest.raises(ValidationError) as bad:
        RagJobPayload.model_validate({"collections": [], "question": "q", "provider": "openai"})
    fields = {e["loc"][0] if e["loc"] else "" for e in bad.value.errors()}
    assert "collections" in fields


class OneBridge:
    """The bridge service's `resolve`, for one published bridge of org_a."""

    def __init__(self) -> None:
        self.bridge = ResolvedBridge(bridge_id="br_1", org_id="org_a", name="Support", slug="support",
                                     type=BridgeType.API, status=BridgeStatus.ACTIVE, pause_reason=None, version=3,
                                     spec=BridgeSpec(provider="groq", model="llama-3.1-8b-instant",
                                                     system_prompt="You are the zoo's guide."))

    async def resolve(self, org_id: str, ref: str) -> ResolvedBridge:
        if org_id != "org_a" or ref not in ("support", "br_1"):
            raise NotFound("bridge not found")
        return self.bridge


async def test_a_bridge_supplies_model_and_prompt(tmp_path: Path) -> None:
    executor, completer, col, _ = await _setup(tmp_path, "Seeds [2].")
    executor = RagExecutor(executor._rag, completer, OneBridge())
    payload = RagJobPayload(collections=[col], question="What does zorblat7 eat?", bridge="support", thread_id="t1")
    outcome = await executor.run(Job(org_id="org_a", kind=JobKind.RAG), payload, RunAttempts())
    sent = completer.payloads[0]
    assert (sent.provider, sent.model) == ("groq", "llama-3.1-8b-instant")
    assert sent.system is not None and sent.system.startswith("You are the zoo's guide.") and "[1]" in sent.system
    assert sent.metadata["bridge_version"] == 3 and sent.metadata["thread_id"] == "t1"
    assert [c["n"] for c in outcome.result["citations"]] == [2]
    with pytest.raises(NotFound):
        await executor.run(Job(org_id="org_b", kind=JobKind.RAG),
                           payload.model_copy(update={"collections": [col]}), RunAttempts())
