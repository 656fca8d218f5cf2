"""One HTTP attempt: check the target, POST the signed body, keep what the receiver said."""

from __future__ import annotations

import asyncio
import email.utils
import time
from dataclasses import dataclass

from services.net.client import GuardedClient, HttpError, HttpTimeout
from services.net.guard import NetPolicy, ResolveFailed, UnsafeTarget, check_url

USER_AGENT = "ai-middleware-webhooks/1"
# Read at most this much of a response: a receiver streaming megabytes back must not tie up
# a worker (the log keeps only the first 2 KB). Smaller answers are read whole, which keeps
# the connection reusable.
READ_LIMIT = 64 * 1024


@dataclass(slots=True)
class SendResult:
    status_code: int | None = None
    latency_s: float = 0.0
    error: str | None = None
    response_body: str | None = None
    retry_after_s: float | None = None
    # The target failed the safety check: recorded, never retried.
    refused: bool = False

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


async def send(
    http: GuardedClient, policy: NetPolicy, url: str, headers: dict[str, str],
    body: bytes, *, body_limit: int,
) -> SendResult:
    """POST `body` to `url`; never raises for anything the receiver or network does."""
    started = time.perf_counter()
    try:
        target = await check_url(url, policy)
    except UnsafeTarget as exc:
        return SendResult(error=f"refused: {exc.reason}", refused=True)
    except ResolveFailed as exc:
        return SendResult(error=exc.message, latency_s=time.perf_counter() - started)
    # The client's timeouts apply per connect and per read; this caps the whole exchange so
    # a receiver that drips one byte every few seconds cannot hold a slot for minutes.
    deadline = policy.connect_timeout_s + policy.read_timeout_s
    try:
        async with asyncio.timeout(deadline):
            response = await http.request("POST", target, headers=headers, body=body,
                                          read_limit=READ_LIMIT)
    except (HttpTimeout, TimeoutError) as exc:
        return SendResult(error=f"timeout: {exc}" if str(exc) else "timeout",
                          latency_s=time.perf_counter() - started)
    except HttpError as exc:
        return SendResult(error=f"connection error: {exc}"[:500],
                          latency_s=time.perf_counter() - started)
    except UnsafeTarget as exc:  # only if aiohttp and the guard disagreed on the host
        return SendResult(error=f"refused: {exc.reason}", refused=True)
    retry_after = None
    if response.status in (429, 503):
        retry_after = parse_retry_after(response.headers.get("retry-after"), time.time())
    return SendResult(
        status_code=response.status, latency_s=time.perf_counter() - started,
        response_body=response.body[:body_limit].decode("utf-8", "replace"),
        retry_after_s=retry_after,
    )
