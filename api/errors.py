"""Maps every error to its HTTP answer in one place.

Body shape: {"error": {"code", "message", "fields"?: [{"field", "reason"}], ...}}.
A client's mistake is always a 4xx naming the field and the reason, never a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from api.responses import Json
from services.errors import Invalid, PlatformError, Retryable

log = logging.getLogger(__name__)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def validation_body(errors: list[Any], prefix: str = "") -> dict[str, Any]:
    fields = []
    for err in errors:
        # A body that is not JSON at all has loc ("body", <offset>): name the body.
        name = "body" if err.get("type") == "json_invalid" else _field(err.get("loc", ()))
        fields.append({"field": f"{prefix}{name}" if prefix else name, "reason": err.get("msg", "invalid")})
    return {"error": {"code": "invalid_request", "message": "request validation failed", "fields": fields}}


def _platform(request: Request | None, exc: Exception) -> Json:
    assert isinstance(exc, PlatformError)
    body: dict[str, Any] = {"code": exc.code, "message": exc.message, **exc.details}
    headers = {}
    if isinstance(exc, Invalid) and exc.fields:
        body["fields"] = exc.fields
    if isinstance(exc, Retryable) and exc.status in (429, 503):
        headers["Retry-After"] = str(max(1, round(exc.retry_after_s or 5)))
    # Errors that explain themselves in headers (RateLimit on a 429).
    headers.update(getattr(exc, "headers", None) or {})
    if exc.status >= 500:
        log.warning("request failed", extra={"code": exc.code, "error": exc.message})
    return Json({"error": body}, status_code=exc.status, headers=headers)


def _request_validation(request: Request | None, exc: Exception) -> Json:
    assert isinstance(exc, RequestValidationError)
    return Json(validation_body(list(exc.errors())), status_code=422)


def _pydantic(request: Request | None, exc: Exception) -> Json:
    assert isinstance(exc, ValidationError)
    return Json(validation_body(list(exc.errors())), status_code=422)


def _http(request: Request | None, exc: Exception) -> Json:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
        # FastAPI's answer when the JSON parser gives up, e.g. on ~1,000 levels of nesting.
        return Json({"error": {"code": "invalid_request", "message": "request validation failed", "fields": [
            {"field": "body", "reason": "JSON that cannot be parsed (nested too deeply?)"}]}}, status_code=422)
    code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(exc.status_code, "http_error")
    return Json({"error": {"code": code, "message": str(exc.detail)}},
                          status_code=exc.status_code, headers=getattr(exc, "headers", None))


def _unexpected(request: Request | None, exc: Exception) -> Json:
    log.exception("unhandled error", exc_info=exc)
    return Json({"error": {"code": "internal_error", "message": "internal error"}}, status_code=500)


_HANDLERS: list[tuple[type[Exception], Any]] = [
    (PlatformError, _platform), (RequestValidationError, _request_validation),
    (ValidationError, _pydantic), (HTTPException, _http), (Exception, _unexpected),
]


def install(app: FastAPI) -> None:
    for cls, handler in _HANDLERS:
        app.add_exception_handler(cls, handler)


def render(exc: Exception) -> Json:
    """The answer for `exc` outside FastAPI's exception middleware (api/fastpath.py): the
    same handlers, picked as Starlette picks them (the first class in the MRO)."""
    for cls in type(exc).__mro__:
        for handled, handler in _HANDLERS:
            if cls is handled:
                answer: Json = handler(None, exc)
                return answer
    return _unexpected(None, exc)
