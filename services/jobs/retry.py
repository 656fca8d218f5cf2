"""Backoff between job attempts: exponential with full jitter, honouring Retry-After."""

from __future__ import annotations

import random


def backoff_s(attempt: int, *, base_s: float, max_s: float, retry_after_s: float | None = None) -> float:
    """Delay before attempt `attempt + 1`. Full jitter (AWS's analysis: fewest collisions)."""
    delay = random.uniform(0, min(max_s, base_s * 2 ** max(0, attempt - 1)))
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return delay
