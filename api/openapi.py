"""The OpenAPI document, made to tell the truth about errors.

Every error answer has one body (api/errors.py), so the document gets one `Error` schema and
each operation lists the error statuses it can answer, derived from what it is rather than
listed per route, so routes added later are documented the same way:
- every operation under /api/ or /v1/ authenticates: 401, and 503 when a backend is down;
- an operation with parameters or a body: 422; with a body: 413; with a path parameter: 404;
- what only some routes answer (409, 429, ...) is declared on the route (`responses=`) and
  gets the same body here.
`Retry-After` is documented on 429 and 503.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "fields": {"type": "array", "items": {
                "type": "object", "required": ["field", "reason"],
                "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
            }},
        },
        "additionalProperties": True,
    }},
}
REASONS = {
    400: "Bad request", 502: "The provider answered with an error",
    401: "Missing, malformed, unknown or revoked API key",
    402: "A budget cannot fit this request (code budget_exceeded)",
    403: "The key may not do this", 404: "Not found (or another org's)",
    409: "Conflict with the current state",
    413: "Request body too large", 422: "Invalid input: each field named with the reason",
    429: "Too many requests: retry after Retry-After", 503: "A backend is unavailable: retry after Retry-After",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "string"}}}
# Security scheme: `Authorization: Bearer aim_...`.
BEARER = {"type": "http", "scheme": "bearer", "description": "A platform API key (aim_...)"}


# What a route that calls a model inside the request may also answer (provider errors).
MODEL_CALL_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "The provider refused the request (content policy, context length, ...)"},
    404: {"description": "Unknown bridge"},
    409: {"description": "The bridge is paused"},
    429: {"description": "Rate limited: retry after Retry-After"},
    502: {"description": "The provider answered with an error"},
}


def _authenticated(path: str) -> bool:
    return path.startswith(("/api/", "/v1/"))


def _error_codes(path: str, op: dict[str, Any]) -> set[int]:
    codes = {int(c) for c in op.get("responses", {}) if c.isdigit() and int(c) >= 400}
    if _authenticated(path):
        # 403: every key is checked against the route's scope (api/scopes.py).
        codes |= {401, 403, 503}
    if op.get("parameters") or "requestBody" in op:
        codes.add(422)
    if "requestBody" in op:
        codes.add(413)
    if any(p.get("in") == "path" for p in op.get("parameters", [])):
        codes.add(404)
    return codes


def document(app: FastAPI) -> dict[str, Any]:
    """The document `app.openapi` serves (built once)."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Error"] = ERROR_SCHEMA
    components.setdefault("securitySchemes", {})["bearer"] = BEARER
    for path, operations in doc.get("paths", {}).items():
        for op in operations.values():
            responses = op.setdefault("responses", {})
            for code in sorted(_error_codes(path, op)):
                declared = responses.get(str(code), {})
                schema = declared.get("content", {}).get("application/json", {}).get("schema")
                if schema == {"$ref": "#/components/schemas/HTTPValidationError"}:
                    schema = None  # FastAPI's default 422 body: ours is the Error body
                entry: dict[str, Any] = {
                    "description": declared.get("description") or REASONS.get(code, "Error"),
                    # A route's own model for an error status (e.g. /ready's 503) is kept.
                    "content": declared["content"] if schema else {"application/json": {"schema": ERROR}},
                }
                if code in (429, 503):
                    entry["headers"] = RETRY_AFTER
                responses[str(code)] = entry
            if _authenticated(path):
                op["security"] = [{"bearer": []}]
    app.openapi_schema = doc
    return doc


def install(app: FastAPI) -> None:
    app.openapi = lambda: document(app)  # type: ignore[method-assign]
