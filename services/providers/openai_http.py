"""The OpenAI wire (Chat Completions, its SSE stream, embeddings) spoken directly over one
aiohttp connection pool, orjson both ways.

Why not the `openai` SDK on this path: profiled at 32 connections against a local upstream
(bench/RESULTS.md, "Where the platform's time goes"), the SDK's `chat.completions.create`
was 56% of a proxied call's CPU (httpx pool bookkeeping 30%, the typed params transform
12%, request building 6%, response models 4%); the same call over aiohttp + orjson costs
2.2-2.8x less CPU. The SDK stays available per adapter (`transport="sdk"`) and both run
the one adapter contract suite against the provider simulator.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDict

from services.providers import errors
from services.providers.clients import MAX_CONNECTIONS, ResponseObserver, ssl_context

OPENAI_BASE_URL = "https://api.openai.com/v1"
# Keep-alive a little under the 60-75 s idle timeout of the common load balancers, so the
# pool never writes to a connection the far side has just closed.
KEEPALIVE_S = 30.0
# An SSE line longer than this is a broken stream, not a delta (chunks are < 4 KiB).
MAX_LINE = 1 << 20


@dataclass(frozen=True, slots=True)
class SentRequest:
    headers: Mapping[str, str]
    content: bytes


@dataclass(frozen=True, slots=True)
class Answer:
    """What a `ResponseObserver` reads: the status, headers and the request it answers
    (the capacity learner keys on the credential and model)."""

    status_code: int
    headers: Mapping[str, str]
    request: SentRequest


class StatusError(Exception):
    """An HTTP error answer, read whole; mapped by `map_error`."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.headers = headers
        self.body = body


def map_error(provider: str, exc: BaseException) -> Exception | None:
    """The one place this transport's exceptions become platform errors (None: not ours)."""
    if isinstance(exc, StatusError):
        try:
            body: Any = orjson.loads(exc.body) if exc.body else None
        except orjson.JSONDecodeError:
            body = exc.body.decode("utf-8", "replace")[:500]
        message, code, kind = errors.body_error_fields(body)
        return errors.from_status(provider, exc.status, message or f"HTTP {exc.status}",
                                  headers=exc.headers, error_code=code, error_type=kind)
    if isinstance(exc, asyncio.TimeoutError):  # aiohttp's timeouts subclass it
        return errors.timeout(provider)
    if isinstance(exc, orjson.JSONDecodeError | aiohttp.ClientPayloadError):
        return errors.bad_response(provider, type(exc).__name__)
    if isinstance(exc, aiohttp.ClientError):
        return errors.connection_error(provider, type(exc).__name__)
    return None


class SseStream:
    """The decoded `data:` events of one streamed answer, until `[DONE]`; `close` releases
    the connection (back to the pool when the stream was read to its end)."""

    def __init__(self, provider: str, response: aiohttp.ClientResponse) -> None:
        self._provider = provider
        self._response = response

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._events()

    async def _events(self) -> AsyncIterator[Any]:
        async for line in self._response.content:
            if not line.startswith(b"data:"):
                continue  # blank separators, `event:` names, `:` keep-alive comments
            data = line[5:].strip()
            if data == b"[DONE]":
                return
            event = orjson.loads(data)
            if isinstance(event, dict) and "error" in event:
                message, _, _ = errors.body_error_fields(event)
                raise errors.bad_response(self._provider, message or "error event in the stream")
            yield event

    async def close(self) -> None:
        self._response.release()


class OpenAIHttp:
    """One connection pool for one base URL, shared by every credential (the key travels in
    the header, so no per-key client is built)."""

    def __init__(self, provider: str, *, base_url: str | None, timeout_s: float,
                 connect_timeout_s: float, on_response: ResponseObserver | None = None) -> None:
        self.provider = provider
        self._base = (base_url or OPENAI_BASE_URL).rstrip("/")
        # sock_read, not total: a long stream may run for minutes as long as bytes keep
        # coming, which is what the SDK's read timeout means too.
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout_s,
                                              sock_read=timeout_s)
        self._on_response = on_response
        self._session: aiohttp.ClientSession | None = None

    def _pool(self) -> aiohttp.ClientSession:
        # Built inside the running loop (aiohttp binds a session to it), on the first call
        # of this adapter, as the SDK pools are.
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, ssl=ssl_context(),
                                             keepalive_timeout=KEEPALIVE_S, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout,
                headers={"User-Agent": "ai-middleware", "Content-Type": "application/json"},
                max_line_size=MAX_LINE, max_field_size=MAX_LINE,
            )
        return self._session

    async def _send(self, path: str, api_key: str, params: dict[str, Any]) -> aiohttp.ClientResponse:
        body = orjson.dumps(params)
        # Case-insensitive, as an HTTP library's headers are: the capacity learner reads
        # `authorization` to key what it learns by credential.
        headers = CIMultiDict(Authorization=f"Bearer {api_key}")
        response = await self._pool().post(self._base + path, data=body, headers=headers)
        if self._on_response is not None:
            await self._on_response(self.provider, Answer(
                response.status, response.headers, SentRequest(headers, body)))
        if response.status >= 400:
            try:
                raise StatusError(response.status, response.headers, await response.read())
            finally:
                response.release()
        return response

    async def post(self, path: str, api_key: str, params: dict[str, Any]) -> Any:
        """POST `params` as JSON; the decoded answer."""
        response = await self._send(path, api_key, params)
        try:
            return orjson.loads(await response.read())
        finally:
            response.release()

    async def stream(self, path: str, api_key: str, params: dict[str, Any]) -> SseStream:
        return SseStream(self.provider, await self._send(path, api_key, params))

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
