"""Refusals of the limits domain, with the HTTP headers that explain them."""

from __future__ import annotations

from typing import Any

from services.errors import PlatformError, Retryable


class RateLimited(Retryable):
    """429: a rate or per-caller concurrency limit is spent; `headers` say when to retry."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after_s: float, headers: dict[str, str], **kw: Any) -> None:
        super().__init__(message, retry_after_s=retry_after_s, **kw)
        self.headers = headers


class Overloaded(Retryable):
    """503: this process holds as many streams or inline calls as it is configured for."""

    code = "overloaded"
    status = 503


class BudgetExceeded(PlatformError):
    """402: the job's estimated cost does not fit a USD budget of its org, key or bridge."""

    code = "budget_exceeded"
    status = 402
