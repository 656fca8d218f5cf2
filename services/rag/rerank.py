"""The optional rerank step: one chat-model call orders the fused candidates.

The model sees the question and the candidates numbered [1]..[n] (each cut to 500
characters, so 20 candidates stay near 3,000 tokens) and answers with a JSON list of
numbers, best first. Numbers it leaves out keep their fused order after the ones it
ranked; an answer that is not such a list leaves the order as it was (the search still
answers, it just was not reranked: `reranked` in the result says which).
"""

from __future__ import annotations

import re

import orjson

from services.chat.completer import ChatCompleter
from services.chat.schemas import ChatJobPayload
from services.jobs.executor import RunAttempts
from services.providers.types import Message
from services.rag.model import Hit

PASSAGE_CHARS = 500
_LIST = re.compile(r"\[[\d,\s]*\]")
PROMPT = ("Rank the passages by how well they answer the question. Answer with only a JSON list "
          "of passage numbers, most relevant first, e.g. [3, 1, 2].")


def order_from(answer: str, n: int) -> list[int] | None:
    """0-based indices from the model's answer, or None when it holds no usable list."""
    match = _LIST.search(answer)
    if match is None:
        return None
    try:
        numbers = orjson.loads(match.group())
    except orjson.JSONDecodeError:
        return None
    seen: list[int] = []
    for number in numbers:
        if isinstance(number, int) and 1 <= number <= n and number - 1 not in seen:
            seen.append(number - 1)
    return (seen + [i for i in range(n) if i not in seen]) if seen else None


class LlmReranker:
    def __init__(self, completer: ChatCompleter, *, provider: str, model: str) -> None:
        self._completer = completer
        self._provider = provider
        self._model = model

    async def rerank(self, query: str, hits: list[Hit], *, org_id: str) -> list[Hit]:
        passages = "\n\n".join(f"[{i}] {h.chunk.text[:PASSAGE_CHARS]}" for i, h in enumerate(hits, start=1))
        payload = ChatJobPayload(provider=self._provider, model=self._model, system=PROMPT, temperature=0,
                                 messages=[Message(role="user", content=f"Question: {query}\n\n{passages}")])
        outcome = await self._completer.complete(payload, org_id=org_id, job_id=None, attempts=RunAttempts())
        order = order_from(str(outcome.result.get("content") or ""), len(hits))
        return hits if order is None else [hits[i] for i in order]
