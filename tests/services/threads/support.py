"""A chatbot executor on the embedded stores with a ChatCompleter that records what it got."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from config import ThreadsSettings
from services.bridges.model import MemoryPolicy
from services.chat.schemas import ChatJobPayload
from services.errors import PlatformError
from services.jobs.executor import Outcome, RunAttempts, StreamEvent
from services.jobs.model import Job, JobKind
from services.threads.executor import ChatbotExecutor, ChatbotJobPayload
from services.threads.memory import HistoryAssembler
from services.threads.memory_order_store import MemoryTurnOrder
from services.threads.memory_store import MemoryThreadStore
from services.threads.model import Thread
from services.threads.summary import SummaryRefresher, SummaryRequest
from services.threads.tokens import TokenCounter

_COUNTER: list[TokenCounter] = []


def counter() -> TokenCounter:
    if not _COUNTER:
        _COUNTER.append(TokenCounter())
    return _COUNTER[0]


@dataclass
class RecordingCompleter:
    """Answers "answer to <last user text>"; summary requests get "SUMMARY(<n> lines)"."""

    seen: list[ChatJobPayload] = field(default_factory=list)
    fail_with: list[PlatformError] = field(default_factory=list)

    async def complete(self, payload: ChatJobPayload, *, org_id: str, job_id: str | None,
                       attempts: RunAttempts, deadline: float | None = None) -> Outcome:
        self.seen.append(payload)
        if self.fail_with:
            raise self.fail_with.pop(0)
        last = payload.messages[-1].content
        if job_id is None:
            return Outcome(result={"content": f"SUMMARY({str(last).count(chr(10)) + 1} lines)"})
        return Outcome(result={"content": f"answer to {last}", "tool_calls": []}, provider=payload.provider,
                       model=payload.model)

    async def complete_stream(self, payload: ChatJobPayload, *, org_id: str, job_id: str | None,
                     attempts: RunAttempts, deadline: float | None = None) -> AsyncIterator[StreamEvent]:
        """The same answer as `complete`, a word per chunk."""
        outcome = await self.complete(payload, org_id=org_id, job_id=job_id, attempts=attempts)
        for word in str(outcome.result["content"]).split(" "):
            yield StreamEvent("chunk", {"delta": word + " "})
        yield StreamEvent("done", outcome.result, outcome)


@dataclass
class Queued:
    """What the summary scheduler was asked to do (run by the test when it wants)."""

    requests: list[SummaryRequest] = field(default_factory=list)

    def schedule(self, request: SummaryRequest) -> None:
        self.requests.append(request)


@dataclass
class Harness:
    store: MemoryThreadStore
    order: MemoryTurnOrder
    completer: RecordingCompleter
    summaries: Queued
    refresher: SummaryRefresher
    executor: ChatbotExecutor
    thread: Thread

    async def submit(self, text: str, *, policy: MemoryPolicy | None = None, model: str = "mock-0ms",
                     provider: str = "mock") -> tuple[Job, ChatbotJobPayload]:
        turn = await self.order.assign(self.thread.id, floor=self.thread.last_turn)
        payload = ChatbotJobPayload(
            provider=provider, model=model, system="You are helpful.", thread_id=self.thread.id, turn=turn,
            messages=[{"role": "user", "content": text}], memory=policy or MemoryPolicy())  # type: ignore[list-item]
        job = Job(org_id=self.thread.org_id, kind=JobKind.CHATBOT, request=payload.model_dump(mode="json"))
        return job, payload

    async def run(self, job: Job, payload: ChatbotJobPayload) -> Outcome:
        return await self.executor.run(job, payload, RunAttempts())


async def harness(**order: Any) -> Harness:
    store = MemoryThreadStore()
    turn_order = MemoryTurnOrder(**order)
    completer = RecordingCompleter()
    assembler = HistoryAssembler(store, counter())
    summaries = Queued()
    refresher = SummaryRefresher(store, assembler, completer, ThreadsSettings())
    executor = ChatbotExecutor(store, turn_order, assembler, completer, summaries, turn_wait_s=0.05)
    thread = Thread(org_id="org_a", bridge_id="br_1", end_user="u1")
    await store.create_thread(thread)
    return Harness(store, turn_order, completer, summaries, refresher, executor, thread)
