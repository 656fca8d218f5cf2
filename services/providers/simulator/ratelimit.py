"""Per-model request limits in the simulator, answered the way the providers answer.

`POST /_sim/ratelimits {"window_s": 60, "models": {"gpt-4o-mini": 500}}` limits each model
to N requests per sliding window (the "minute", shortened in tests). Every answer for a
limited model carries the provider's rate-limit headers (OpenAI-style `x-ratelimit-*`;
Anthropic's `anthropic-ratelimit-*` on its route); over the limit the answer is 429 with
`retry-after` / `retry-after-ms`. `GET /_sim/ratelimits` returns each model's accepted
request times and rejected count, so a test can check what the provider saw.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass
class ModelLimit:
    limit: int
    recent: deque[float] = field(default_factory=deque)
    accepted: list[float] = field(default_factory=list)
    received: list[float] = field(default_factory=list)
    rejected: int = 0


@dataclass
class RateLimits:
    window_s: float = 60.0
    models: dict[str, ModelLimit] = field(default_factory=dict)

    def configure(self, raw: dict[str, Any]) -> None:
        self.window_s = float(raw.get("window_s", 60.0))
        if self.window_s <= 0:
            raise ValueError("window_s must be positive")
        self.models = {str(m): ModelLimit(int(n)) for m, n in (raw.get("models") or {}).items()}

    def check(self, provider: str, model: str) -> tuple[bool, list[tuple[bytes, bytes]]]:
        """(allowed, headers) for one request; an allowed request is counted."""
        found = self.models.get(model)
        if found is None:
            return True, []
        now = time.time()
        found.received.append(now)
        while found.recent and found.recent[0] <= now - self.window_s:
            found.recent.popleft()
        allowed = len(found.recent) < found.limit
        if allowed:
            found.recent.append(now)
            found.accepted.append(now)
        else:
            found.rejected += 1
        reset_s = (found.recent[0] + self.window_s - now) if found.recent else 0.0
        remaining = max(0, found.limit - len(found.recent))
        headers = _headers(provider, found.limit, remaining, reset_s)
        if not allowed:
            headers += [(b"retry-after", str(max(1, math.ceil(reset_s))).encode()),
                        (b"retry-after-ms", f"{reset_s * 1000:.0f}".encode())]
        return allowed, headers

    def stats(self) -> dict[str, Any]:
        return {"window_s": self.window_s, "models": {
            m: {"limit": v.limit, "accepted": v.accepted, "received": v.received, "rejected": v.rejected}
            for m, v in self.models.items()}}


def _headers(provider: str, limit: int, remaining: int, reset_s: float) -> list[tuple[bytes, bytes]]:
    if provider == "anthropic":
        at = datetime.fromtimestamp(time.time() + reset_s, UTC).isoformat().replace("+00:00", "Z")
        return [(b"anthropic-ratelimit-requests-limit", str(limit).encode()),
                (b"anthropic-ratelimit-requests-remaining", str(remaining).encode()),
                (b"anthropic-ratelimit-requests-reset", at.encode())]
    return [(b"x-ratelimit-limit-requests", str(limit).encode()),
            (b"x-ratelimit-remaining-requests", str(remaining).encode()),
            (b"x-ratelimit-reset-requests", f"{max(reset_s, 0.0) * 1000:.0f}ms".encode())]
