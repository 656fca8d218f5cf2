"""Builds a real RagService for tests: real embedder (offline wordllama), real stores."""

from __future__ import annotations

from typing import Any

from config import Settings
from services.chat.schemas import ChatJobPayload
from services.jobs.executor import Outcome, RunAttempts
from services.net.guard import NetPolicy
from services.providers.embeddings.local import token_lengths
from services.rag.chunks.store import ChunkStore
from services.rag.fetch import UrlFetcher
from services.rag.ingest.pipeline import IngestPipeline
from services.rag.ingest.queue import IngestQueue, InProcessIngest
from services.rag.runtime import build_embeddings
from services.rag.search import Searcher
from services.rag.service import RagService
from services.rag.store import RagRepository


def rag_service(repo: RagRepository, chunks: ChunkStore, queue: IngestQueue | None = None,
                policy: NetPolicy | None = None) -> tuple[RagService, IngestPipeline]:
    embeddings = build_embeddings(Settings())
    fetcher = UrlFetcher(policy or NetPolicy.build(), max_bytes=1 << 20)
    pipeline = IngestPipeline(repo, chunks, embeddings, token_lengths(), fetcher)
    service = RagService(repo, chunks, embeddings, Searcher(chunks, embeddings), queue or InProcessIngest(pipeline),
                         fetcher)
    return service, pipeline


def corpus(n: int) -> list[tuple[str, str]]:
    """n distinct markdown documents, each about one made-up animal, findable by its name."""
    colours = ["red", "blue", "green", "amber", "violet", "silver", "ochre"]
    out = []
    for i in range(n):
        name = f"zorblat{i}"
        text = (f"# The {name}\n\nThe {name} is a {colours[i % 7]} creature of valley {i}.\n\n"
                f"## Diet\n\nIt eats {i * 3} kinds of seeds and sleeps {i % 12} hours.\n")
        out.append((name, text))
    return out


class RecordingCompleter:
    """A ChatCompleter (our own port) that answers `answer` and records each payload."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.payloads: list[ChatJobPayload] = []

    async def complete(self, payload: ChatJobPayload, *, org_id: str, job_id: str | None,
                       attempts: RunAttempts, deadline: float | None = None) -> Outcome:
        self.payloads.append(payload)
        return Outcome(result={"content": self.answer}, provider=payload.provider, model=payload.model)

    def complete_stream(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError
