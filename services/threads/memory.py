"""History assembly: what of a thread a turn sends to the model.

Newest turns first, whole turns only (an assistant's tool call never loses its result),
while they fit the policy's token budget; whatever is left out is covered by the thread's
running summary, which `summary.SummaryRefresher` writes after the turn, off its path.
Messages are read newest first in growing batches until the budget is spent, at most
`max_messages` in all.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.bridges.model import MemoryPolicy
from services.providers.types import Message
from services.threads.model import Thread, ThreadMessage
from services.threads.store import ThreadStore
from services.threads.tokens import TokenCounter

SUMMARY_HEADER = "Summary of the earlier conversation:"
# Messages in the first read; each further read doubles. A 4,000-token budget holds ~40
# chat messages, so most turns need one or two reads, not the policy's whole max_messages
# (reading 200 costs ~5 ms in process where 32 cost ~1 ms: bench/chat_history.py).
FIRST_READ = 32


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
        summary_tokens = 0
        if thread.summary:
            summary_tokens = self._counter.text(f"{SUMMARY_HEADER}\n{thread.summary}", provider=provider, model=model)
        budget = policy.max_history_tokens - summary_tokens
        kept: list[list[ThreadMessage]] = []
        used = read = 0
        size, before, left_out = FIRST_READ, before_turn, False
        while True:
            want = min(size, policy.max_messages - read)
            if want <= 0:
                left_out = True  # max_messages read and the budget is not spent: stop there
                break
            batch = await self._store.recent_messages(thread.org_id, thread.id, limit=want, before_turn=before)
            groups = _turns(batch)
            full = len(batch) == want
            if full and len(groups) == 1 and want < policy.max_messages - read:
                size *= 4  # one turn larger than the read: read again, wider
                continue
            if full:
                groups.pop()  # the oldest turn read may be cut: read it whole next time
                left_out = not groups
            for group in groups:
                cost = sum(self._counter.message(m.as_message(), provider=provider, model=model) for m in group)
                if used + cost > budget:
                    left_out = True
                    break
                kept.append(group)
                used += cost
            read += sum(len(g) for g in groups)
            if left_out or not full:
                break
            before, size = groups[-1][0].turn, size * 2
        oldest_kept = kept[-1][0].turn if kept else (before or before_turn or thread.last_turn + 1)
        omitted = oldest_kept - 1 if left_out else 0
        messages = [m.as_message() for group in reversed(kept) for m in sorted(group, key=lambda m: m.seq)]
        summary = thread.summary if omitted and thread.summary else None
        return History(messages, summary, used + (summary_tokens if summary else 0), omitted)
