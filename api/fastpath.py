"""POST /v1/chat/completions without FastAPI's router and dependency solving.

The OpenAI-compatible call is the platform's hottest route. Profiled, a cache hit spent
~63% of its CPU in uvicorn, the middleware stack and FastAPI around the handler (route
matching 12%, dependency solving 17%); this handler took a hit from 1.07-1.34 to
0.50-0.67 ms of CPU (bench/RESULTS.md). It runs the same steps as the FastAPI route, by
calling them: the app-wide scope check (`enforce_scope`), the caller's `Gate`, and the
route function itself, whose job record, metric row, limits and webhooks all still happen.

Anything it does not serve the usual way falls through to FastAPI with the body replayed,
so there is one behaviour per case: a body that does not parse or validate (FastAPI
answers its 422 naming the field), `stream: true`, and an end user's token.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from api import errors
from api.deps import get_ctx
from api.responses import Json
from api.routes import openai_compat
from api.routes.governor import get_gate
from api.scopes import enforce_scope, principal_of
from services.compat.openai_schemas import ChatCompletionRequest

PATH = "/v1/chat/completions"


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


class ChatCompletionsFastPath:
    """Pure ASGI, innermost of the middleware (inside the body limit, request id, metrics
    and tracing), in front of the FastAPI router."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._route: BaseRoute | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        replayed = _replay(body, receive)
        route = self._route
        try:
            request = ChatCompletionRequest.model_validate(orjson.loads(body))
        except (orjson.JSONDecodeError, ValidationError):
            request = None
        if request is None or request.stream or route is None:
            await self.app(scope, replayed, send)
            # The router put the matched route on the scope: the FastAPI route object, so
            # later calls label metrics and read the scope table by the same template.
            # (Learnt from a real request: FastAPI 0.165 resolves included routers lazily.)
            self._route = self._route or scope.get("route")
            return
        scope["route"] = route
        http = Request(scope, replayed)
        answer: Response
        try:
            await enforce_scope(http)
            caller = principal_of(http)
            if caller is None:  # an end user's token: the route's own dependencies resolve it
                await self.app(scope, replayed, send)
                return
            headers = _HeaderSink()
            result = await openai_compat.chat_completions(
                body=request, ctx=await get_ctx(http), org_id=caller.org_id,
                gate=await get_gate(http), response=headers)
            answer = result if isinstance(result, Response) else Json(result)
            answer.headers.raw.extend(headers.headers.raw)
        except Exception as exc:
            answer = errors.render(exc)
        await answer(scope, replayed, send)
