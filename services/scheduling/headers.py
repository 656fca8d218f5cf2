"""Rate-limit headers as one Observation, whichever provider sent them.

OpenAI (and Groq, OpenRouter, Mistral's gateway): `x-ratelimit-limit-requests`,
`x-ratelimit-remaining-requests`, `x-ratelimit-reset-requests` (a duration: `1s`, `6m0s`,
`20ms`), the same for `-tokens`. Anthropic: `anthropic-ratelimit-requests-limit`,
`-remaining`, `-reset` (an RFC 3339 instant), the same for `tokens` (and `input-tokens` /
`output-tokens`, of which we keep the tighter). `retry-after` / `retry-after-ms` on a 429.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from services.providers.errors import parse_retry_after

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True, slots=True)
class Observation:
    limit_requests: float | None = None
    remaining_requests: float | None = None
    reset_requests_s: float | None = None
    limit_tokens: float | None = None
    remaining_tokens: float | None = None
    reset_tokens_s: float | None = None
    retry_after_s: float | None = None

    @property
    def empty(self) -> bool:
        return all(getattr(self, f) is None for f in self.__slots__)

    def blocked_for_s(self) -> float:
        """How long the provider told us not to send (retry-after, or an exhausted bucket)."""
        waits = [self.retry_after_s or 0.0]
        if self.remaining_requests is not None and self.remaining_requests <= 0:
            waits.append(self.reset_requests_s or 0.0)
        if self.remaining_tokens is not None and self.remaining_tokens <= 0:
            waits.append(self.reset_tokens_s or 0.0)
        return max(waits)


def parse_duration_s(raw: str) -> float | None:
    """`1s`, `6m0s`, `20ms`, `1h2m3.5s` or a bare number of seconds."""
    text = raw.strip()
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts:
        return None
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def _instant_s(raw: str, now: float) -> float | None:
    try:
        return max(datetime.fromisoformat(raw.strip().replace("Z", "+00:00")).timestamp() - now, 0.0)
    except ValueError:
        return parse_duration_s(raw)


def _num(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        return None


def _min(*values: float | None) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def observe(headers: Mapping[str, str], now: float) -> Observation:
    """What the headers say about the credential's capacity for this model."""
    reset_r = headers.get("x-ratelimit-reset-requests")
    reset_t = headers.get("x-ratelimit-reset-tokens")
    a_reset_r = headers.get("anthropic-ratelimit-requests-reset")
    a_reset_t = headers.get("anthropic-ratelimit-tokens-reset")
    return Observation(
        limit_requests=_min(_num(headers, "x-ratelimit-limit-requests"),
                            _num(headers, "anthropic-ratelimit-requests-limit")),
        remaining_requests=_min(_num(headers, "x-ratelimit-remaining-requests"),
                                _num(headers, "anthropic-ratelimit-requests-remaining")),
        reset_requests_s=_min(parse_duration_s(reset_r) if reset_r else None,
                              _instant_s(a_reset_r, now) if a_reset_r else None),
        limit_tokens=_min(_num(headers, "x-ratelimit-limit-tokens"),
                          _num(headers, "anthropic-ratelimit-tokens-limit"),
                          _num(headers, "anthropic-ratelimit-input-tokens-limit")),
        remaining_tokens=_min(_num(headers, "x-ratelimit-remaining-tokens"),
                              _num(headers, "anthropic-ratelimit-tokens-remaining"),
                              _num(headers, "anthropic-ratelimit-input-tokens-remaining")),
        reset_tokens_s=_min(parse_duration_s(reset_t) if reset_t else None,
                            _instant_s(a_reset_t, now) if a_reset_t else None),
        retry_after_s=parse_retry_after(headers),
    )
