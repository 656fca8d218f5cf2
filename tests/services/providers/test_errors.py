from __future__ import annotations

import email.utils
import time

import pytest

from services.errors import Permanent, Retryable
from services.providers import errors


def test_retry_after_forms() -> None:
    assert errors.parse_retry_after({"retry-after": "3"}) == 3.0
    assert errors.parse_retry_after({"retry-after": "0.5"}) == 0.5
    assert errors.parse_retry_after({"retry-after-ms": "1200", "retry-after": "9"}) == 1.2
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    parsed = errors.parse_retry_after({"retry-after": date})
    assert parsed is not None and 25 < parsed <= 30
    assert errors.parse_retry_after({"retry-after": "soon"}) is None
    assert errors.parse_retry_after({}) is None
    assert errors.parse_retry_after(None) is None
    assert errors.parse_retry_after({"retry-after": "999999"}) == errors.MAX_RETRY_AFTER_S


@pytest.mark.parametrize(("status", "code", "kind", "message", "expected"), [
    (429, "rate_limit_exceeded", None, "slow down", "rate_limited"),
    (429, "insufficient_quota", None, "You exceeded your current quota", "quota_exceeded"),
    (500, None, None, "boom", "provider_unavailable"),
    (529, None, "overloaded_error", "Overloaded", "provider_unavailable"),
    (408, None, None, "timeout", "provider_unavailable"),
    (400, None, "invalid_request_error", "bad field", "invalid_request"),
    (422, None, None, "unprocessable", "invalid_request"),
    (401, "invalid_api_key", None, "Incorrect API key", "auth_failed"),
    (403, None, "permission_error", "nope", "auth_failed"),
    (404, "model_not_found", None, "The model does not exist", "model_not_found"),
    (400, "context_length_exceeded", None, "too long", "context_length_exceeded"),
    (400, None, "invalid_request_error", "prompt is too long: 210000 tokens > 200000",
     "context_length_exceeded"),
    (413, None, "request_too_large", "Request too large", "context_length_exceeded"),
    (400, "content_policy_violation", None, "rejected", "content_policy"),
    (400, None, None, "Output blocked by content filtering policy", "content_policy"),
])
def test_from_status(status: int, code: str | None, kind: str | None, message: str,
                     expected: str) -> None:
    exc = errors.from_status("openai", status, message, error_code=code, error_type=kind)
    assert exc.code == expected
    assert exc.provider_status == status and exc.provider == "openai"
    assert isinstance(exc, Retryable) == (expected in ("rate_limited", "provider_unavailable"))
    assert isinstance(exc, Permanent) != isinstance(exc, Retryable)


def test_error_dict_names_provider_and_upstream_status() -> None:
    exc = errors.from_status("groq", 429, "slow", headers={"retry-after": "2"})
    assert exc.as_dict() == {"code": "rate_limited", "message": "slow", "retryable": True,
                             "details": {"provider": "groq", "provider_status": 429}}
    assert isinstance(exc, errors.ProviderRetryable) and exc.retry_after_s == 2.0


def test_body_error_fields_shapes() -> None:
    assert errors.body_error_fields({"error": {"message": "m", "code": "c", "type": "t"}}) == (
        "m", "c", "t")
    assert errors.body_error_fields([{"error": {"code": 400, "message": "m",
                                                "status": "INVALID_ARGUMENT"}}]) == (
        "m", "400", "INVALID_ARGUMENT")
    assert errors.body_error_fields({"type": "error", "error": {"type": "t", "message": "m"}}) \
        == ("m", None, "t")
    assert errors.body_error_fields({"object": "error", "message": "m", "type": "t",
                                     "code": None}) == ("m", None, "t")
    assert errors.body_error_fields("not json") == (None, None, None)


def test_parsing_guard_turns_missing_fields_into_bad_response() -> None:
    with pytest.raises(errors.ProviderRetryable) as info, errors.parsing("mistral"):
        [][0]
    assert info.value.code == "bad_response"
