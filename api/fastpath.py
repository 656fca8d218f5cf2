"""The two hottest routes without FastAPI's router and dependency solving.

POST /v1/chat/completions (the OpenAI-compatible call) and POST /api/v1/jobs (submit).
Profiled, a cache hit spent ~63% of its CPU in uvicorn, the middleware stack and FastAPI
around the handler (route matching 12%, dependency solving 17%); this handler took a hit
from 1.07-1.34 to 0.50-0.67 ms of CPU, and dependency solving was 21% of a submit
(bench/RESULTS.md). Each runs the same steps as its FastAPI route, by calling them: the
app-wide scope check (`enforce_scope`), the caller's `Gate`, and the route function
itself, whose job record, metric row, limits and webhooks all still happen.

Anything a path does not serve the usual way falls through to FastAPI with the body
replayed, so there is one behaviour per case: a body that does not parse or validate
(FastAPI answers its 422 naming the field), an end user's token, and per route what only
FastAPI reads (`stream: true`; a query string, a non-JSON content type, an over-long
Idempotency-Key).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from api import errors
from api.deps import get_ctx
from api.responses import Json
from api.routes import jobs, openai_compat
from api.routes.governor import get_gate
from api.scopes import enforce_scope, principal_of
from services.compat.openai_schemas import ChatCompletionRequest


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away; the route would see the same
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Any) -> Any:
    sent = False

    async def replayed() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


class _HeaderSink(Response):
    """The route's `response` parameter: where it sets headers (rate limits), nothing else.
    A plain Response would render an empty body and its Content-Length, to be deleted."""

    def __init__(self) -> None:  # no body, no default headers
        self.raw_headers = []


Serve = Callable[[Request, bytes], Awaitable[Response | None]]


async def _chat_completions(http: Request, body: bytes) -> Response | None:
    try:
        request = ChatCompletionRequest.model_validate(orjson.loads(body))
    except (orjson.JSONDecodeError, ValidationError):
        return None
    if request.stream:
        return None
    await enforce_scope(http)
    caller = principal_of(http)
    if caller is None:  # an end user's token: the route's own dependencies resolve it
        return None
    headers = _HeaderSink()
    result = await openai_compat.chat_completions(
        body=request, ctx=await get_ctx(http), org_id=caller.org_id, gate=await get_gate(http), response=headers)
    answer = result if isinstance(result, Response) else Json(result)
    answer.headers.raw.extend(headers.headers.raw)
    return answer


async def _submit_job(http: Request, body: bytes) -> Response | None:
    # `?wait=` and unknown query parameters are FastAPI's to read and to refuse.
    if http.scope["query_string"] or not http.headers.get("content-type", "").startswith("application/json"):
        return None
    try:
        submit = jobs.JobSubmit.model_validate(orjson.loads(body))
    except (orjson.JSONDecodeError, ValidationError):
        return None
    idempotency_key = http.headers.get("idempotency-key")
    if idempotency_key is not None and len(idempotency_key) > jobs.IDEMPOTENCY_KEY_MAX:
        return None
    await enforce_scope(http)
    caller = principal_of(http)
    if caller is None:
        return None
    return await jobs.submit_job(
        request=http, body=submit, ctx=await get_ctx(http), org_id=caller.org_id, gate=await get_gate(http),
        prefer=http.headers.get("prefer"), idempotency_key=idempotency_key)


SERVED: dict[str, Serve] = {"/v1/chat/completions": _chat_completions, "/api/v1/jobs": _submit_job}


class FastPaths:
    """Pure ASGI, innermost of the middleware (inside the body limit, request id, metrics
    and tracing), in front of the FastAPI router."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._routes: dict[str, BaseRoute] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        serve = SERVED.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if serve is None:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        replayed = _replay(body, receive)
        route = self._routes.get(scope["path"])
        answer: Response | None = None
        if route is not None:
            scope["route"] = route
            try:
                answer = await serve(Request(scope, replayed), body)
            except Exception as exc:
                answer = errors.render(exc)
        if answer is None:
            await self.app(scope, replayed, send)
            # The router put the matched route on the scope: the FastAPI route object, so
            # later calls label metrics and read the scope table by the same template.
            # (Learnt from a real request: FastAPI 0.165 resolves included routers lazily.)
            if (matched := scope.get("route")) is not None:
                self._routes.setdefault(scope["path"], matched)
            return
        await answer(scope, replayed, send)
