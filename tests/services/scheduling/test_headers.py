from __future__ import annotations

import pytest

from services.scheduling.headers import observe, parse_duration_s


@pytest.mark.parametrize(("raw", "seconds"), [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5),
                                              ("2.5", 2.5)])
def test_openai_reset_durations(raw: str, seconds: float) -> None:
    assert parse_duration_s(raw) == pytest.approx(seconds)


def test_openai_headers() -> None:
    seen = observe({"x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-reset-requests": "1.5s", "x-ratelimit-limit-tokens": "30000",
                    "x-ratelimit-remaining-tokens": "29000", "x-ratelimit-reset-tokens": "2s"}, now=0.0)
    assert (seen.limit_requests, seen.limit_tokens) == (500, 30000)
    # No request left: blocked until the requests bucket resets.
    assert seen.blocked_for_s() == pytest.approx(1.5)


def test_anthropic_headers_and_retry_after() -> None:
    seen = observe({"anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "3",
                    "anthropic-ratelimit-requests-reset": "1970-01-01T00:01:40Z",
                    "anthropic-ratelimit-input-tokens-limit": "40000",
                    "anthropic-ratelimit-tokens-limit": "80000", "retry-after": "7"}, now=90.0)
    assert seen.limit_requests == 50 and seen.remaining_requests == 3
    assert seen.reset_requests_s == pytest.approx(10.0)
    assert seen.limit_tokens == 40000  # the tighter of input and total
    assert seen.blocked_for_s() == pytest.approx(7.0)
    assert observe({}, now=0.0).empty
