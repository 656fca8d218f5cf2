"""History assembly: what of a thread a turn sends to the model.

Newest turns first, whole turns only (an assistant's tool call never loses its result),
while they fit the policy's token budget; whatever is left out is covered by the thread's
running summary, which `summary.SummaryRefresher` writes after the turn, off its path.
One store read per turn: the newest `max_messages` messages, newest first.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.providers.types import Message
from services.threads.model import MemoryPolicy, Thread, ThreadMessage
from services.threads.store import ThreadStore
from services.threads.tokens import TokenCounter

SUMMARY_HEADER = "Summary of the earlier conversation:"


@dataclass(slots=True)
class History:
    messages: list[Message]
    # The summary block for the system prompt (None when nothing was left out or no
    # summary exists yet).
    summary: str | None
    tokens: int
    # The newest turn left out of `messages` (0: nothing was); a summary that covers less
    # than this is stale.
    omitted_through: int

    def system(self, base: str | None) -> str | None:
        """The bridge's system prompt with the summary block appended."""
        if not self.summary:
            return base
        block = f"{SUMMARY_HEADER}\n{self.summary}"
        return f"{base}\n\n{block}" if base else block


def _turns(newest_first: list[ThreadMessage]) -> list[list[ThreadMessage]]:
    groups: list[list[ThreadMessage]] = []
    for message in newest_first:
        if groups and groups[-1][0].turn == message.turn:
            groups[-1].append(message)
        else:
            groups.append([message])
    return groups


class HistoryAssembler:
    def __init__(self, store: ThreadStore, counter: TokenCounter) -> None:
        self._store = store
        self._counter = counter

    async def assemble(
        self, thread: Thread, policy: MemoryPolicy, *, provider: str, model: str,
        before_turn: int | None = None,
    ) -> History:
        """The history a turn sees: messages of turns before `before_turn` (None: all)."""
        recent = await self._store.recent_messages(
            thread.org_id, thread.id, limit=policy.max_messages, before_turn=before_turn)
        groups = _turns(recent)
        if len(recent) == policy.max_messages and groups:
            groups.pop()  # the oldest turn read may be cut: leave it to the summary
        summary_tokens = 0
        if thread.summary:
            summary_tokens = self._counter.text(f"{SUMMARY_HEADER}\n{thread.summary}", provider=provider, model=model)
        budget = policy.max_history_tokens - summary_tokens
        kept: list[list[ThreadMessage]] = []
        used = 0
        for group in groups:
            cost = sum(self._counter.message(m.as_message(), provider=provider, model=model) for m in group)
            if used + cost > budget:
                break
            kept.append(group)
            used += cost
        oldest_kept = kept[-1][0].turn if kept else (before_turn or thread.last_turn + 1)
        omitted = oldest_kept - 1 if (len(kept) < len(groups) or len(recent) == policy.max_messages) else 0
        if not recent:
            omitted = 0
        messages = [m.as_message() for group in reversed(kept) for m in sorted(group, key=lambda m: m.seq)]
        summary = thread.summary if omitted and thread.summary else None
        return History(messages, summary, used + (summary_tokens if summary else 0), omitted)
