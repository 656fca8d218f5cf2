"""Provider failures as the platform's error hierarchy, shared by every adapter.

Each adapter turns its SDK's exceptions into these in ONE place (`_map_error` in the
adapter module), through `from_status` / `from_transport` below, so retry, circuit-breaker
and fallback code upstream only ever sees two families:

- `ProviderRetryable` (a `services.errors.Retryable`): 429, 408, 409 (lock timeout), 5xx,
  timeouts, connection errors and malformed answers. `retry_after_s` carries the provider's
  Retry-After / retry-after-ms when it sent one.
- `ProviderPermanent` (a `services.errors.Permanent`), one subclass per code: a retry of
  the same request to the same provider cannot pass (a fallback to another provider may).

`status` keeps its platform meaning (the HTTP status our API answers); the upstream status
is `provider_status`. Messages come from the provider's error body and never contain the
credential (providers echo at most a masked key; we do not add one).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from services.errors import Permanent, Retryable

# Retry-After larger than this is treated as "back off a long time", not obeyed to the second.
MAX_RETRY_AFTER_S = 3600.0


class ProviderRetryable(Retryable):
    """A provider failure a later attempt may pass. Codes: rate_limited, provider_unavailable,
    timeout, connection_error, bad_response."""

    code = "provider_unavailable"
    status = 503

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        provider_status: int | None = None,
        retry_after_s: float | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(
            message, retry_after_s=retry_after_s, code=code, provider=provider,
            provider_status=provider_status,
        )
        self.provider = provider
        self.provider_status = provider_status


class ProviderPermanent(Permanent):
    """A provider refusal no retry of the same request will fix."""

    code = "provider_error"
    status = 502

    def __init__(
        self, message: str, *, provider: str, provider_status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code, provider=provider, provider_status=provider_status)
        self.provider = provider
        self.provider_status = provider_status


class InvalidProviderRequest(ProviderPermanent):
    code = "invalid_request"
    status = 400


class ProviderAuthFailed(ProviderPermanent):
    """The provider credential is missing, wrong or lacks permission (401/403). Our caller's
    own API key is fine, hence 502 rather than 401."""

    code = "auth_failed"
    status = 502


class ContentPolicy(ProviderPermanent):
    code = "content_policy"
    status = 400


class ContextLengthExceeded(ProviderPermanent):
    code = "context_length_exceeded"
    status = 400


class ModelNotFound(ProviderPermanent):
    code = "model_not_found"
    status = 400


class QuotaExceeded(ProviderPermanent):
    """429 with `insufficient_quota`: the account is out of credit, no retry will pay."""

    code = "quota_exceeded"
    status = 502


class Unsupported(ProviderPermanent):
    """The provider has no such capability (e.g. embeddings on Anthropic)."""

    code = "unsupported"
    status = 400


def unsupported(provider: str, what: str) -> Unsupported:
    return Unsupported(f"{provider} does not support {what}", provider=provider)


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from `retry-after-ms` (OpenAI, Anthropic) or `retry-after` (seconds or
    an HTTP date). None when absent or unreadable."""
    if not headers:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return _clamp(float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return _clamp(float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return _clamp(when.timestamp() - time.time())


def _clamp(seconds: float) -> float | None:
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


_CONTEXT_HINTS = (
    "context_length", "context length", "maximum context", "too many tokens", "prompt is too long",
    "too long", "reduce the length", "max_tokens_exceeded",
)
_POLICY_HINTS = (
    "content_policy", "content policy", "content_filter", "content filter", "safety", "moderation",
)


def _has(text: str, hints: tuple[str, ...]) -> bool:
    return any(h in text for h in hints)


def from_status(
    provider: str,
    status: int,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    error_code: str | None = None,
    error_type: str | None = None,
) -> ProviderRetryable | ProviderPermanent:
    """Classify one HTTP error answer. `error_code` / `error_type` are the body's own
    fields (OpenAI `error.code` / `error.type`, Anthropic `error.type`, ...), used to tell
    context-length and content-policy refusals apart from other 400s."""
    hint = " ".join(str(x).lower() for x in (error_code, error_type, message) if x)
    if status == 429 and not _has(hint, ("insufficient_quota",)):
        return ProviderRetryable(
            message, provider=provider, provider_status=status,
            retry_after_s=parse_retry_after(headers), code="rate_limited",
        )
    if status in (408, 409, 425) or status >= 500:
        return ProviderRetryable(
            message, provider=provider, provider_status=status,
            retry_after_s=parse_retry_after(headers), code="provider_unavailable",
        )
    cls: type[ProviderPermanent]
    if status in (401, 403) and not _has(hint, _POLICY_HINTS):
        cls = ProviderAuthFailed
    elif status == 429:
        cls = QuotaExceeded
    elif _has(hint, _CONTEXT_HINTS) or status == 413:
        cls = ContextLengthExceeded
    elif _has(hint, _POLICY_HINTS):
        cls = ContentPolicy
    elif status == 404 or (status == 400 and _has(hint, ("model_not_found", "unknown model"))):
        cls = ModelNotFound
    else:
        cls = InvalidProviderRequest
    return cls(message, provider=provider, provider_status=status)


def timeout(provider: str, detail: str = "") -> ProviderRetryable:
    return ProviderRetryable(
        f"{provider} did not answer in time{': ' + detail if detail else ''}",
        provider=provider, code="timeout",
    )


def connection_error(provider: str, detail: str = "") -> ProviderRetryable:
    return ProviderRetryable(
        f"could not reach {provider}{': ' + detail if detail else ''}",
        provider=provider, code="connection_error",
    )


def bad_response(provider: str, detail: str = "") -> ProviderRetryable:
    return ProviderRetryable(
        f"{provider} sent a malformed answer{': ' + detail if detail else ''}",
        provider=provider, code="bad_response",
    )


def body_error_fields(body: Any) -> tuple[str | None, str | None, str | None]:
    """(message, code, type) from the common error body shapes: OpenAI/Groq/OpenRouter
    `{"error": {...}}`, Gemini's `[{"error": {...}}]`, Anthropic `{"type": "error",
    "error": {...}}` and Mistral's flat `{"message", "type", "code"}`."""
    if isinstance(body, list) and body:
        body = body[0]
    if not isinstance(body, dict):
        return None, None, None
    inner = body.get("error", body)
    if not isinstance(inner, dict):
        return str(inner), None, None
    message = inner.get("message")
    code = inner.get("code")
    kind = inner.get("type") or inner.get("status")
    return (
        str(message) if message is not None else None,
        str(code) if code is not None else None,
        str(kind) if kind is not None else None,
    )


@contextmanager
def parsing(provider: str) -> Iterator[None]:
    """Around code that reads an SDK's answer: a field missing or of the wrong type (the
    SDKs parse leniently) is the provider's malformed answer, not our bug."""
    try:
        yield
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        raise bad_response(provider, f"{type(exc).__name__}: {exc}") from exc
