"""The error hierarchy shared by every layer.

api/errors.py maps these to HTTP statuses in one place; workers/runner.py maps them to
ack / retry / dead-letter in one place.
"""

from __future__ import annotations

from typing import Any


class PlatformError(Exception):
    """Base of every error the platform raises on purpose."""

    code = "internal_error"
    status = 500
    retryable = False

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message, "retryable": self.retryable}
        if self.details:
            out["details"] = self.details
        return out


class Retryable(PlatformError):
    """A failure that may pass on a later attempt (rate limit, 5xx, timeout, outage)."""

    code = "retryable_error"
    status = 503
    retryable = True

    def __init__(self, message: str, *, retry_after_s: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after_s = retry_after_s


class Deferred(Retryable):
    """Not this job's turn yet (an earlier turn of its thread is running, the provider has
    no capacity): the job goes back to `queued` and runs again after `retry_after_s`,
    without counting an attempt. `reason` is shown on the job while it waits."""

    code = "deferred"

    def __init__(self, message: str, *, reason: str, retry_after_s: float, **kw: Any) -> None:
        super().__init__(message, retry_after_s=retry_after_s, **kw)
        self.reason = reason


class Permanent(PlatformError):
    """A failure no retry will fix (invalid request, auth, content policy)."""

    code = "permanent_error"
    status = 400


class NotFound(PlatformError):
    code = "not_found"
    status = 404


class Conflict(PlatformError):
    code = "conflict"
    status = 409


class Invalid(PlatformError):
    """Client input that fails validation; `field` names what is wrong."""

    code = "invalid_request"
    status = 422

    def __init__(self, message: str, *, field: str | None = None,
                 fields: list[dict[str, str]] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.field = field
        # Several fields at once ({"field", "reason"} each), e.g. from a payload's validation.
        self.fields = fields or ([{"field": field, "reason": message}] if field else [])


class Unauthorized(PlatformError):
    code = "unauthorized"
    status = 401


class Unavailable(Retryable):
    """A dependency of ours (broker, store) is down: the client should come back later."""

    code = "service_unavailable"
    status = 503


class Forbidden(PlatformError):
    """The caller is known but may not do this (e.g. an end user on a bridge outside their token)."""

    code = "forbidden"
    status = 403
