"""The `chatbot` job kind: one turn of a thread.

Steps: wait for the thread's turn (`NotYourTurn` requeues the job when an earlier turn is
unfinished) -> append the user's messages (idempotent on job id + seq) -> assemble the
history within the bridge's budget -> the chat call (ChatCompleter) -> append the answer
(idempotent) -> finish the turn -> schedule the summary refresh. `stream` does the same and
yields the answer's chunks. A redelivered job whose turn already finished returns the
stored answer instead of calling the model again.

For the lifecycle: `NotYourTurn` must requeue without counting an attempt; when a chatbot
job ends failed or cancelled without this executor finishing it (attempts spent, cancel
while queued), call `abandon(job)` so the thread's next turn need not wait `turn_stall_s`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pydantic import Field, ValidationError

from services.bridges.model import MemoryPolicy
from services.chat.completer import ChatCompleter
from services.chat.schemas import ChatJobPayload
from services.errors import Permanent
from services.guardrails.model import PiiKind
from services.guardrails.service import redact_message
from services.jobs.executor import Outcome, RunAttempts, StreamEvent
from services.jobs.model import Job, JobKind, JobStatus
from services.providers.types import Message, ToolCall
from services.threads.memory import History, HistoryAssembler
from services.threads.model import Thread, ThreadMessage
from services.threads.order_store import Grant, NotYourTurn, TurnOrder
from services.threads.store import ThreadStore
from services.threads.summary import SummaryRequest, SummaryScheduler
from services.threads.turn_lease import held_turn


class ChatbotJobPayload(ChatJobPayload):
    """A chat request for one turn: `messages` are the turn's new messages only (the user's
    text, or tool results), the history is read from the thread."""

    thread_id: str = Field(min_length=1, max_length=64)
    end_user: str | None = Field(default=None, max_length=256)
    # The turn number handed out at submit (TurnOrder.assign).
    turn: int = Field(ge=1)
    memory: MemoryPolicy = Field(default_factory=MemoryPolicy)
    # PII the thread must not keep although the provider is sent it: set by the bridge's
    # guardrails when they redact the record but not the provider's view (`redact_in:
    # [record]`). The thread is part of the record: its messages are read back over the API.
    memory_redact: list[PiiKind] = Field(default_factory=list)


def answer_messages(
    thread: Thread, job_id: str, turn: int, first_seq: int, result: dict[str, Any],
    redact: list[PiiKind] | None = None,
) -> list[ThreadMessage]:
    """The assistant's stored message for a completer result (its text and tool calls)."""
    calls = [ToolCall.model_validate(c) for c in result.get("tool_calls") or []]
    message = Message(role="assistant", content=result.get("content"), tool_calls=calls or None)
    if redact:
        message = redact_message(message, redact)
    return [ThreadMessage.of(message, thread=thread, job_id=job_id, turn=turn, seq=first_seq)]


class ChatbotExecutor:
    kind = JobKind.CHATBOT.value
    payload_model = ChatbotJobPayload

    def __init__(self, store: ThreadStore, order: TurnOrder, assembler: HistoryAssembler,
                 completer: ChatCompleter, summaries: SummaryScheduler, *, turn_wait_s: float = 0.5,
                 lease_s: float = 30.0) -> None:
        self._store, self._order, self._assembler = store, order, assembler
        self._completer, self._summaries = completer, summaries
        self._turn_wait_s, self._lease_s = turn_wait_s, lease_s

    async def run(self, job: Job, payload: ChatbotJobPayload, attempts: RunAttempts) -> Outcome:
        thread, replayed = await self._start(job, payload)
        if replayed is not None:
            return replayed
        async with held_turn(self._order, thread.id, payload.turn, job.id, lease_s=self._lease_s):
            request, inputs, history = await self._prepare(job, thread, payload)
            outcome = await self._completer.complete(request, org_id=job.org_id, job_id=job.id, attempts=attempts)
            await self._record(job, thread, payload, inputs, history, outcome)
        self._refresh_summary(job, payload)
        return outcome

    async def stream(self, job: Job, payload: ChatbotJobPayload, attempts: RunAttempts) -> AsyncIterator[StreamEvent]:
        """The same turn, yielding the answer's chunks as the model writes them."""
        thread, replayed = await self._start(job, payload)
        if replayed is not None:
            yield StreamEvent("done", replayed.result, replayed)
            return
        outcome: Outcome | None = None
        async with held_turn(self._order, thread.id, payload.turn, job.id, lease_s=self._lease_s):
            request, inputs, history = await self._prepare(job, thread, payload)
            events = self._completer.complete_stream(request, org_id=job.org_id, job_id=job.id, attempts=attempts)
            async for event in events:
                if event.event == "done":
                    outcome = event.outcome
                else:
                    yield event
            if outcome is None:
                raise Permanent("the stream ended without an answer", code="stream_interrupted")
            await self._record(job, thread, payload, inputs, history, outcome)
        self._refresh_summary(job, payload)
        yield StreamEvent("done", outcome.result, outcome)

    async def job_finished(self, job: Job) -> None:
        """Job listener: a chatbot job that failed or was cancelled frees its turn at once
        (otherwise the next turn would wait out `turn_stall_s`)."""
        if job.kind != self.kind or job.status is JobStatus.SUCCEEDED:
            return
        try:
            await self.abandon(job)
        except ValidationError:
            return  # not a turn payload: it never held a turn

    async def abandon(self, job: Job) -> None:
        """The job ended without running its turn to the end: let the next turn go."""
        payload = ChatbotJobPayload.model_validate(job.request)
        await self._order.finish(payload.thread_id, payload.turn)

    async def _start(self, job: Job, payload: ChatbotJobPayload) -> tuple[Thread, Outcome | None]:
        """Take the turn: the thread, and the stored outcome when the turn already ran."""
        thread = await self._store.get_thread(job.org_id, payload.thread_id)
        if thread is None:
            raise Permanent("the thread was deleted", code="thread_not_found")
        acquired = await self._order.acquire(thread.id, payload.turn, job.id)
        if acquired.grant is Grant.WAIT:
            raise NotYourTurn(f"turn {payload.turn} waits for turn {acquired.cursor}",
                              retry_after_s=self._turn_wait_s)
        if acquired.grant is Grant.DONE:
            return thread, await self._replay(job, thread, payload)
        return thread, None

    async def _prepare(
        self, job: Job, thread: Thread, payload: ChatbotJobPayload,
    ) -> tuple[ChatJobPayload, list[ThreadMessage], History]:
        """Store the turn's input, then build the chat request with the history before it."""
        kept = [redact_message(m, payload.memory_redact) if payload.memory_redact else m for m in payload.messages]
        inputs = [ThreadMessage.of(m, thread=thread, job_id=job.id, turn=payload.turn, seq=i)
                  for i, m in enumerate(kept)]
        await self._store.append(thread.org_id, thread.id, inputs)
        history = await self._assembler.assemble(
            thread, payload.memory, provider=payload.provider, model=payload.model, before_turn=payload.turn)
        values = payload.model_dump(exclude={"thread_id", "end_user", "turn", "memory", "memory_redact",
                                             "messages", "system"})
        request = ChatJobPayload.model_validate({
            **values, "messages": [*history.messages, *payload.messages], "system": history.system(payload.system)})
        return request, inputs, history

    async def _record(self, job: Job, thread: Thread, payload: ChatbotJobPayload, inputs: list[ThreadMessage],
                      history: History, outcome: Outcome) -> None:
        await self._store.append(thread.org_id, thread.id,
                                 answer_messages(thread, job.id, payload.turn, len(inputs), outcome.result,
                                                 payload.memory_redact))
        outcome.extra = {**outcome.extra, "thread_id": thread.id, "turn": payload.turn,
                         "history_tokens": history.tokens}

    def _refresh_summary(self, job: Job, payload: ChatbotJobPayload) -> None:
        self._summaries.schedule(SummaryRequest(job.org_id, payload.thread_id, payload.memory,
                                                payload.provider, payload.model))

    async def _replay(self, job: Job, thread: Thread, payload: ChatbotJobPayload) -> Outcome:
        """The turn finished before (a redelivery after the answer was stored)."""
        stored = await self._store.turn_messages(thread.org_id, thread.id, payload.turn)
        answer = [m for m in stored if m.job_id == job.id and m.role == "assistant"]
        if not answer:
            raise Permanent(f"turn {payload.turn} was skipped: an earlier turn stalled or it was "
                            "abandoned", code="turn_skipped")
        last = answer[-1]
        result = {"content": last.content, "tool_calls": [c.model_dump() for c in last.tool_calls or []]}
        return Outcome(result=result, extra={"thread_id": thread.id, "turn": payload.turn, "replayed": True})
