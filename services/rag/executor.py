"""The `rag` job kind: retrieve from the org's collections, then answer with citations.

The retrieved chunks go into the system prompt as numbered sources `[1]..[k]`; the model
is told to cite them as `[n]`. The chat call goes through the `ChatCompleter` port (cache,
fallbacks, breaker, retries of the chat executor). The result maps every `[n]` the answer
uses (or, if it cites none, every source) back to document, chunk and snippet.
"""

from __future__ import annotations

import re
import time
from typing import Any, Protocol

from pydantic import BaseModel, Field, model_validator

from services.bridges.model import ResolvedBridge
from services.bridges.run import build_payload
from services.chat.completer import ChatCompleter
from services.chat.schemas import ChatJobPayload
from services.errors import Invalid
from services.jobs.executor import Outcome, RunAttempts
from services.jobs.model import Job, JobKind
from services.providers.types import Message
from services.rag.model import Hit
from services.rag.search import SearchMode, SearchQuery, fuse
from services.rag.service import RagService
from services.webhooks.models import WebhookTarget

SNIPPET_CHARS = 300
_CITE = re.compile(r"\[(\d{1,3})\]")
INSTRUCTIONS = (
    "Answer the question using only the numbered sources below. Cite each claim with the "
    "number of its source in square brackets, like [1]. If the sources do not contain the "
    "answer, say so."
)


class BridgeResolver(Protocol):
    """The bridge service's lookup: the published bridge `ref` (id or slug) of an org."""

    async def resolve(self, org_id: str, ref: str) -> ResolvedBridge: ...


class RagJobPayload(BaseModel):
    collections: list[str] = Field(min_length=1, max_length=10)
    question: str = Field(min_length=1, max_length=4000)
    bridge: str | None = Field(default=None, max_length=200)
    provider: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=200)
    k: int = Field(default=5, ge=1, le=20)
    filters: dict[str, Any] = Field(default_factory=dict)
    mode: SearchMode = SearchMode.HYBRID
    thread_id: str | None = Field(default=None, max_length=200)
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0)
    # Where to POST the job's result when it finishes (queued runs), like any job's.
    webhook: WebhookTarget | None = None

    @model_validator(mode="after")
    def _one_model(self) -> RagJobPayload:
        if self.bridge is None and (self.provider is None) != (self.model is None):
            raise ValueError("give provider and model together (or a bridge)")
        return self


def sources_prompt(hits: list[Hit]) -> str:
    blocks = [f"[{n}] ({h.chunk.heading or 'document ' + h.chunk.document_id})\n{h.chunk.text}"
              for n, h in enumerate(hits, start=1)]
    return INSTRUCTIONS + "\n\nSources:\n\n" + "\n\n".join(blocks)


def citations(content: str, hits: list[Hit]) -> list[dict[str, Any]]:
    cited = sorted({int(n) for n in _CITE.findall(content) if 1 <= int(n) <= len(hits)})
    return [{"n": n, "document_id": hits[n - 1].chunk.document_id, "chunk_id": hits[n - 1].chunk.id,
             "snippet": hits[n - 1].chunk.text[:SNIPPET_CHARS], "score": hits[n - 1].score}
            for n in (cited or range(1, len(hits) + 1))]


class RagExecutor:
    kind = JobKind.RAG
    payload_model = RagJobPayload

    def __init__(self, rag: RagService, completer: ChatCompleter, bridges: BridgeResolver | None = None) -> None:
        self._rag = rag
        self._completer = completer
        self._bridges = bridges

    async def retrieve(self, org_id: str, payload: RagJobPayload) -> list[Hit]:
        query = SearchQuery(query=payload.question, k=payload.k, filters=payload.filters, mode=payload.mode)
        lists = [await self._rag.search(org_id, cid, query) for cid in payload.collections]
        return lists[0] if len(lists) == 1 else fuse(lists)[: payload.k]

    async def chat_payload(self, org_id: str, payload: RagJobPayload, hits: list[Hit]) -> ChatJobPayload:
        """A bridge's published settings (its own system prompt first, then the sources), or
        provider+model, or the platform default (mock)."""
        question = [Message(role="user", content=payload.question)]
        if payload.bridge is not None:
            if self._bridges is None:
                raise Invalid("bridges are not available to RAG on this deployment", field="bridge")
            resolved = await self._bridges.resolve(org_id, payload.bridge)
            chat = build_payload(resolved, question, thread_id=payload.thread_id,
                                 overrides={"temperature": payload.temperature, "max_tokens": payload.max_tokens})
            system = "\n\n".join(p for p in (chat.system, sources_prompt(hits)) if p)
            return chat.model_copy(update={"system": system})
        fields: dict[str, Any] = {
            "messages": question, "system": sources_prompt(hits),
            "temperature": payload.temperature, "max_tokens": payload.max_tokens,
            "metadata": {"thread_id": payload.thread_id} if payload.thread_id else {},
        }
        if payload.provider and payload.model:
            fields.update(provider=payload.provider, model=payload.model)
        return ChatJobPayload(**fields)

    async def answer(self, org_id: str, job_id: str | None, payload: RagJobPayload,
                     attempts: RunAttempts, deadline: float | None = None) -> Outcome:
        started = time.perf_counter()
        hits = await self.retrieve(org_id, payload)
        retrieval_ms = (time.perf_counter() - started) * 1000
        chat = await self.chat_payload(org_id, payload, hits)
        outcome = await self._completer.complete(chat, org_id=org_id, job_id=job_id, attempts=attempts,
                                                 deadline=deadline)
        content = str(outcome.result.get("content") or "")
        outcome.result = {**outcome.result, "content": content, "citations": citations(content, hits)}
        outcome.extra = {**outcome.extra, "retrieval": {
            "collections": payload.collections, "mode": payload.mode.value, "k": payload.k,
            "hits": len(hits), "ms": round(retrieval_ms, 2),
            "documents": sorted({h.chunk.document_id for h in hits}),
        }}
        return outcome

    async def run(self, job: Job, payload: Any, attempts: RunAttempts) -> Outcome:
        parsed = payload if isinstance(payload, RagJobPayload) else RagJobPayload.model_validate(payload)
        return await self.answer(job.org_id, job.id, parsed, attempts)
