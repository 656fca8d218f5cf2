"""The one ASGI layer every HTTP request passes before FastAPI's router.

Pure ASGI (BaseHTTPMiddleware costs ~0.3 ms a request). It does, in one call frame, one
scan of the headers and one wrapper around `send`, what used to be five layers (each with
its own frame, header scan and send wrapper: ~5% of a proxied call, bench/RESULTS.md):

- metrics: requests counted and timed per (route template, method, status class). The
  template ("/api/v1/jobs/{job_id}"), never the raw path, keeps a label set small whatever
  ids clients send; a path no route matched is "unmatched".
- tracing (when on): one server span per request, continuing a caller's W3C `traceparent`,
  named by the same template; the job a request submits is published inside it, so the
  worker's spans join this trace.
- request id: X-Request-ID (printable ASCII, 64 bytes) is taken or made, put on every log
  line and on the response.
- body limit: a body over the limit answers 413 before the route parses it, whether the
  client sent Content-Length or streamed it chunked.
- allowed methods: OPTIONS on a known path answers 204 with `Allow` listing every method of
  that path, and a 405 lists them all too (the router alone lists only the first route that
  matched the path, e.g. GET but not POST on /api/v1/jobs). The methods come from the
  OpenAPI document's paths (read on first use), so the answers and the document agree.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from typing import Any

import orjson
from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException

from services.common.logging import request_id_var
from services.observability import tracing
from services.observability.prom import HTTP_LATENCY, HTTP_REQUESTS

Scope = dict[str, Any]
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"


def route_template(scope: Scope) -> str:
    """The matched route's path template, set by the router on the shared scope."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else UNMATCHED


def _request_id(given: bytes) -> str:
    given = given[:64]
    # Only printable ASCII is echoed back and logged; anything else gets a fresh id.
    if given and all(0x20 < c < 0x7F for c in given):
        return given.decode("ascii")
    return secrets.token_hex(16)  # as random as uuid4().hex, without building a UUID


class _TooLarge(HTTPException):
    """An HTTPException so FastAPI's body parser re-raises it instead of answering 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body exceeds {limit} bytes")


def _too_large(limit: int) -> tuple[dict[str, Any], dict[str, Any]]:
    body = orjson.dumps({"error": {"code": "payload_too_large",
                                   "message": f"request body exceeds {limit} bytes",
                                   "fields": [{"field": "body", "reason": f"larger than {limit} bytes"}]}})
    start = {"type": "http.response.start", "status": 413,
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}
    return start, {"type": "http.response.body", "body": body}


class _AllowTable:
    def __init__(self, paths: Callable[[], dict[str, Any]]) -> None:
        self._paths = paths
        self._table: list[tuple[re.Pattern[str], list[str]]] | None = None

    def allowed(self, path: str) -> list[str]:
        if self._table is None:
            table = []
            for template, operations in self._paths().items():
                regex = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
                declared = {m.upper() for m in operations}
                if "GET" in declared:
                    declared.add("HEAD")
                table.append((re.compile(regex + "$"), sorted(declared | {"OPTIONS"})))
            self._table = table
        found: set[str] = set()
        for compiled, allowed in self._table:
            if compiled.match(path):
                found |= set(allowed)
        return sorted(found)


class Edge:
    def __init__(self, app: Any, *, max_bytes: int, paths: Callable[[], dict[str, Any]],
                 bulk_prefixes: tuple[str, ...] = (), bulk_max_bytes: int = 0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Batch uploads (up to 50,000 requests) get their own, larger cap.
        self.bulk_prefixes = bulk_prefixes
        self.bulk_max_bytes = bulk_max_bytes
        self._allow = _AllowTable(paths)
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not tracing.enabled():
            await self._serve(scope, receive, send, None)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]
                   if k in (b"traceparent", b"tracestate")}
        method = scope["method"]
        with tracing.span(f"{method} {scope['path']}", kind="server", parent=headers, attributes={
            "http.request.method": method, "url.path": scope["path"],
        }) as current:
            try:
                await self._serve(scope, receive, send, current)
            finally:
                route = route_template(scope)  # known once routing has run
                if current is not None:
                    current.update_name(f"{method} {route}")
                tracing.set_attributes(current, {"http.route": route})

    async def _serve(self, scope: Scope, receive: Any, send: Any, span: Any) -> None:
        started = time.perf_counter()
        length: bytes | None = None
        given = b""
        preflight = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"x-request-id":
                given = value
            elif name == b"access-control-request-method":
                preflight = True
        rid = _request_id(given)
        rid_header = (b"x-request-id", rid.encode())
        token = request_id_var.set(rid)
        status = 500

        async def edge_send(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", ()), rid_header]
                if status == 405:
                    allow = ", ".join(self._allow.allowed(scope["path"])).encode()
                    headers = [h for h in headers if h[0].lower() != b"allow"] + [(b"allow", allow)]
                message["headers"] = headers
                if span is not None:
                    tracing.set_attributes(span, {"http.response.status_code": status})
            await send(message)

        try:
            await self._dispatch(scope, receive, edge_send, length, preflight)
        finally:
            request_id_var.reset(token)
            self._count(scope, status, time.perf_counter() - started)

    async def _dispatch(self, scope: Scope, receive: Any, send: Any, length: bytes | None,
                        preflight: bool) -> None:
        if scope["method"] == "OPTIONS" and not preflight:  # a CORS preflight is its route's to answer
            allowed = self._allow.allowed(scope["path"])
            if allowed:
                await send({"type": "http.response.start", "status": 204,
                            "headers": [(b"allow", ", ".join(allowed).encode())]})
                await send({"type": "http.response.body", "body": b""})
                return
        limit = self.max_bytes
        if self.bulk_prefixes and scope["path"].startswith(self.bulk_prefixes):
            limit = max(limit, self.bulk_max_bytes)
        if length is not None and length.isdigit():
            if int(length) > limit:
                await self._reject(send, limit)
                return
            # The server reads no more than Content-Length says: nothing left to count.
            await self.app(scope, receive, send)
            return
        await self._counted(scope, receive, send, limit)

    async def _counted(self, scope: Scope, receive: Any, send: Any, limit: int) -> None:
        """A body without Content-Length (chunked): counted as it arrives."""
        seen = 0
        started = False

        async def limited_receive() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge(limit)
            return message

        async def tracking_send(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(send, limit)

    @staticmethod
    async def _reject(send: Any, limit: int) -> None:
        start, body = _too_large(limit)
        await send(start)
        await send(body)

    def _count(self, scope: Scope, status: int, seconds: float) -> None:
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        key = (route_template(scope), method, status)
        found = self._children.get(key)
        if found is None:
            route = key[0]
            found = self._children[key] = (HTTP_REQUESTS.labels(route, method, f"{status // 100}xx"),
                                           HTTP_LATENCY.labels(route, method))
        found[0].inc()
        found[1].observe(seconds)
