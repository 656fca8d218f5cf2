"""The providers' native batch APIs as one port: OpenAI's Batch API (a JSONL file, 24 h
window) and Anthropic's Message Batches, both billed at half the price of single calls.

An adapter that has one sets `supports_batches` and implements `BatchApi`; the scheduler
(services/scheduling/provider_batches.py) submits, polls, reads and cancels through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from services.providers.types import ChatRequest, ChatResult

# Both providers bill batch requests at 50% of the single-call price.
BATCH_DISCOUNT = 0.5


@dataclass(frozen=True, slots=True)
class BatchLine:
    """One request's outcome: a result, or an error (code: errored, canceled, expired, ...)."""

    custom_id: str
    result: ChatResult | None = None
    error_code: str | None = None
    error_message: str | None = None


class BatchApi(Protocol):
    supports_batches: bool

    async def batch_submit(self, items: list[tuple[str, ChatRequest]], *, model: str, api_key: str | None) -> str:
        """Submit the requests (custom id, request) of one model; returns the provider's batch id."""
        ...

    async def batch_ended(self, batch_id: str, *, api_key: str | None) -> bool:
        """Has the provider finished (completed, failed, expired or cancelled) the batch?"""
        ...

    async def batch_results(self, batch_id: str, *, model: str, api_key: str | None) -> list[BatchLine]: ...

    async def batch_cancel(self, batch_id: str, *, api_key: str | None) -> None: ...


def batch_api(provider: Any) -> BatchApi | None:
    """The provider's batch API, None when it has none."""
    return provider if getattr(provider, "supports_batches", False) else None


def discounted(result: ChatResult) -> ChatResult:
    return result.model_copy(update={"cost_usd": result.cost_usd * BATCH_DISCOUNT})
