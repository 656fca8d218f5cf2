"""Code every adapter shares: the credential check, SDK error mapping around a call, the
SDK client pools of the Stainless-generated SDKs (openai, anthropic, groq: one exception
hierarchy, one constructor shape), result assembly, and the OpenAI-shaped stream loop.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from types import ModuleType
from typing import Any, TypeVar

from services.providers import errors, openai_wire
from services.providers.clients import (
    MAX_CONNECTIONS,
    MAX_KEEPALIVE,
    ResponseObserver,
    SdkClients,
    ssl_context,
)
from services.providers.pricing import cost_usd
from services.providers.types import ChatResult, StreamChunk, ToolCall, Usage

C = TypeVar("C")
ErrorMapper = Callable[[str, BaseException], Exception | None]


def credential(provider: str, api_key: str | None, *, required: bool = True) -> str:
    """The key to call with; keyless services get a placeholder the SDKs accept."""
    if not api_key:
        if required:
            raise errors.ProviderAuthFailed(f"no credential for {provider}", provider=provider)
        return "no-key"
    return api_key


@contextmanager
def mapped_errors(provider: str, map_error: ErrorMapper) -> Iterator[None]:
    """Around an SDK call: its exceptions become platform errors; platform errors raised
    inside (e.g. by `errors.parsing`) and exceptions that are not the SDK's pass unchanged."""
    try:
        yield
    except (errors.ProviderRetryable, errors.ProviderPermanent):
        raise
    except Exception as exc:
        mapped = map_error(provider, exc)
        if mapped is None:
            raise
        raise mapped from exc


def map_stainless_error(sdk: ModuleType, transport: ModuleType, provider: str,
                        exc: BaseException) -> Exception | None:
    """`sdk` exceptions (and those of its HTTP library, `transport`) as platform errors
    (None: not ours)."""
    if isinstance(exc, sdk.APIStatusError):
        message, code, kind = errors.body_error_fields(exc.body)
        return errors.from_status(
            provider, exc.status_code, message or str(exc), headers=exc.response.headers,
            error_code=code, error_type=kind,
        )
    if isinstance(exc, sdk.APITimeoutError | transport.TimeoutException):
        return errors.timeout(provider)
    if isinstance(exc, sdk.APIResponseValidationError | json.JSONDecodeError):
        return errors.bad_response(provider, type(exc).__name__)
    if isinstance(exc, sdk.APIConnectionError | transport.TransportError):
        return errors.connection_error(provider, type(exc).__name__)
    return None


def stainless_clients(sdk: ModuleType, transport: ModuleType, client_cls: Callable[..., C], *,
                      base_url: str | None, timeout_s: float, connect_timeout_s: float,
                      cache_size: int, provider: str = "",
                      on_response: ResponseObserver | None = None) -> SdkClients[Any, C]:
    """SDK clients of `client_cls` sharing one `transport` connection pool, SDK retries off
    (retries are the platform's)."""
    timeout = sdk.Timeout(timeout_s, connect=connect_timeout_s)
    hooks: dict[str, list[Any]] = {}
    if on_response is not None:
        observer = on_response

        async def observe(response: Any) -> None:
            await observer(provider, response)

        hooks["response"] = [observe]
    return SdkClients(
        lambda: sdk.DefaultAsyncHttpxClient(
            timeout=timeout, verify=ssl_context(), event_hooks=hooks,
            limits=transport.Limits(max_connections=MAX_CONNECTIONS,
                                    max_keepalive_connections=MAX_KEEPALIVE),
        ),
        lambda pool, key: client_cls(
            api_key=key, base_url=base_url, max_retries=0, timeout=timeout, http_client=pool,
        ),
        lambda pool: pool.aclose(), size=cache_size,
    )


def chat_result(*, content: str | None, tool_calls: list[ToolCall], finish_reason: str,
                usage: Usage, provider: str, model: str, started: float) -> ChatResult:
    """The result of a call begun at `started` (a `time.perf_counter()` reading)."""
    return ChatResult(
        content=content, tool_calls=tool_calls, finish_reason=finish_reason,
        usage=usage, provider=provider, model=model,
        latency_ms=(time.perf_counter() - started) * 1000,
        cost_usd=cost_usd(provider, model, usage),
    )


def openai_chat_result(response: Any, *, provider: str, model: str,
                       started: float) -> ChatResult:
    """A Chat Completions response (an openai or groq SDK object, or the decoded JSON) as
    the platform's result."""
    field = openai_wire.field
    with errors.parsing(provider):
        choice = field(response, "choices")[0]
        message = field(choice, "message")
        content = field(message, "content")
        if content is not None and not isinstance(content, str):
            raise TypeError(f"content is {type(content).__name__}")
        return chat_result(
            content=content,
            tool_calls=openai_wire.tool_calls(field(message, "tool_calls")),
            finish_reason=field(choice, "finish_reason") or "stop",
            usage=openai_wire.usage(field(response, "usage")), provider=provider, model=model,
            started=started,
        )


async def openai_stream(
    provider: str, map_error: ErrorMapper, open_stream: Callable[[], Awaitable[Any]], *,
    feed: Callable[[openai_wire.StreamState, Any], str] | None = None,
    finish_reasons: Mapping[str, str] | None = None,
) -> AsyncIterator[StreamChunk]:
    """Text deltas of an OpenAI-shaped stream, then one final chunk with the tool calls,
    finish reason (renamed through `finish_reasons`) and usage. `feed` reads one SDK chunk
    into the state (default: `StreamState.feed`)."""
    state = openai_wire.StreamState()
    with mapped_errors(provider, map_error):
        stream = await open_stream()
        try:
            async for chunk in stream:
                with errors.parsing(provider):
                    delta = feed(state, chunk) if feed else state.feed(chunk)
                if delta:
                    yield StreamChunk(delta=delta)
        finally:
            await stream.close()
        if state.finish_reason is None:
            raise errors.bad_response(provider, "stream ended before its finish_reason")
    final = state.final()
    if finish_reasons and final.finish_reason is not None:
        final.finish_reason = finish_reasons.get(final.finish_reason, final.finish_reason)
    yield final
