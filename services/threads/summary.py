"""The running summary of a thread: turns that no longer fit a turn's budget, folded into
a few paragraphs by a configurable model, after the turn (never on its path).

`SummaryRefresher.refresh` reads what the next turn would leave out, asks the model to
fold it into the previous summary, and stores the result compare-and-set on the turn it
covers, so two refreshes racing on one thread never move it backwards. `BackgroundSummaries`
runs refreshes as tasks of the worker process; a deployment that wants them on the queue
instead implements `SummaryScheduler` with a follow-up job calling the same `refresh`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

from config import ThreadsSettings
from services.bridges.model import MemoryPolicy
from services.chat.completer import ChatCompleter
from services.chat.schemas import ChatJobPayload
from services.jobs.executor import RunAttempts
from services.providers.types import Message
from services.threads.memory import HistoryAssembler
from services.threads.model import ThreadMessage
from services.threads.store import ThreadStore
from services.threads.tokens import message_text

log = logging.getLogger(__name__)

PROMPT = (
    "You keep the memory of a conversation between a user and an assistant. Merge the "
    "previous summary and the new messages into one concise summary in the third person: "
    "facts about the user, decisions, open questions and commitments. Answer with the "
    "summary only."
)
# Messages folded per refresh; a longer backlog is folded over the next turns' refreshes.
FOLD_MAX_MESSAGES = 200


@dataclass(frozen=True, slots=True)
class SummaryRequest:
    org_id: str
    thread_id: str
    policy: MemoryPolicy
    # The model the thread's turns run on (the budget is counted in its tokens).
    provider: str
    model: str


class SummaryScheduler(Protocol):
    def schedule(self, request: SummaryRequest) -> None:
        """Arrange for `SummaryRefresher.refresh(request)` to run soon; never raises."""


def transcript(messages: list[ThreadMessage]) -> str:
    lines = []
    for message in messages:
        text, images = message_text(message.as_message())
        suffix = f" [{images} image(s)]" if images else ""
        lines.append(f"{message.role}: {text}{suffix}")
    return "\n".join(lines)


class SummaryRefresher:
    def __init__(self, store: ThreadStore, assembler: HistoryAssembler, completer: ChatCompleter,
                 settings: ThreadsSettings) -> None:
        self._store, self._assembler, self._completer = store, assembler, completer
        self._settings = settings

    async def refresh(self, request: SummaryRequest) -> bool:
        """Fold the turns the next turn would leave out into the summary; True if it moved."""
        thread = await self._store.get_thread(request.org_id, request.thread_id)
        if thread is None or not request.policy.summarize:
            return False
        history = await self._assembler.assemble(
            thread, request.policy, provider=request.provider, model=request.model)
        if history.omitted_through <= thread.summary_through:
            return False
        page = await self._store.list_messages(
            thread.org_id, thread.id, limit=FOLD_MAX_MESSAGES,
            cursor=f"{thread.summary_through}.{2**31}")
        folded = [m for m in page.items if m.turn <= history.omitted_through]
        if page.next_cursor and folded and folded[-1].turn < history.omitted_through:
            last = folded[-1].turn  # the page may end mid-turn: fold whole turns only
            folded = [m for m in folded if m.turn < last] or folded
        if not folded:
            return False
        through = folded[-1].turn
        ref = request.policy.summary_model
        payload = ChatJobPayload(
            provider=ref.provider if ref else self._settings.summary_provider,
            model=ref.model if ref else self._settings.summary_model,
            system=PROMPT, max_tokens=self._settings.summary_max_tokens, cache=False,
            messages=[Message(role="user", content=(
                f"Previous summary:\n{thread.summary or '(none)'}\n\nNew messages:\n{transcript(folded)}"))],
        )
        outcome = await self._completer.complete(
            payload, org_id=thread.org_id, job_id=None, attempts=RunAttempts())
        content = str(outcome.result.get("content") or "").strip()
        if not content:
            return False
        stored = await self._store.set_summary(
            thread.org_id, thread.id, content, through=through, expected_through=thread.summary_through)
        log.info("thread summary refreshed", extra={"thread_id": thread.id, "through_turn": through,
                                                    "folded": len(folded), "stored": stored})
        return stored


class BackgroundSummaries:
    """Runs refreshes as tasks of this process; `aclose` waits for the ones in flight.

    One refresh per thread at a time: a request for a thread already refreshing is dropped
    (the running one, or the next turn's, will cover it)."""

    def __init__(self, refresher: SummaryRefresher) -> None:
        self._refresher = refresher
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def schedule(self, request: SummaryRequest) -> None:
        if request.thread_id in self._tasks:
            return
        task = asyncio.get_running_loop().create_task(self._run(request))
        self._tasks[request.thread_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(request.thread_id, None))

    async def _run(self, request: SummaryRequest) -> None:
        try:
            await self._refresher.refresh(request)
        except Exception:
            log.exception("thread summary refresh failed", extra={"thread_id": request.thread_id})

    async def aclose(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
