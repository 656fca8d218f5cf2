"""Every adapter maps its SDK's failures to the same platform errors, end to end over HTTP."""

from __future__ import annotations

import socket

import pytest

from services.errors import Permanent, Retryable
from services.providers import errors
from services.providers.registry import ProviderRegistry
from services.providers.simulator.server import RunningSimulator
from services.providers.types import ChatRequest, Message
from tests.services.providers.conftest import MODELS, sim_registry

PROVIDERS = list(MODELS)
REQUEST = ChatRequest(messages=[Message(role="user", content="hello")])


async def complete(registry: ProviderRegistry, name: str) -> None:
    await registry[name].complete(REQUEST, model=MODELS[name], api_key="sk-test")


async def stream(registry: ProviderRegistry, name: str) -> None:
    async for _ in registry[name].stream(REQUEST, model=MODELS[name], api_key="sk-test"):
        pass


CALLS = {"complete": complete, "stream": stream}


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("name", PROVIDERS)
async def test_429_is_retryable_with_retry_after(
    registry: ProviderRegistry, sim: RunningSimulator, name: str, call: str,
) -> None:
    await sim.configure(status=429, retry_after=7)
    with pytest.raises(errors.ProviderRetryable) as info:
        await CALLS[call](registry, name)
    exc = info.value
    assert isinstance(exc, Retryable)
    assert (exc.code, exc.retry_after_s, exc.provider, exc.provider_status) == (
        "rate_limited", 7.0, name, 429)


@pytest.mark.parametrize("name", PROVIDERS)
async def test_retry_after_ms_wins(registry: ProviderRegistry, sim: RunningSimulator,
                                   name: str) -> None:
    await sim.configure(status=429, retry_after=7, retry_after_ms=1500)
    with pytest.raises(errors.ProviderRetryable) as info:
        await complete(registry, name)
    assert info.value.retry_after_s == 1.5


@pytest.mark.parametrize("status", [500, 502, 503, 529, 408])
@pytest.mark.parametrize("name", PROVIDERS)
async def test_server_errors_are_retryable(registry: ProviderRegistry, sim: RunningSimulator,
                                           name: str, status: int) -> None:
    await sim.configure(status=status)
    with pytest.raises(errors.ProviderRetryable) as info:
        await complete(registry, name)
    assert (info.value.code, info.value.provider_status) == ("provider_unavailable", status)
    assert info.value.retry_after_s is None


@pytest.mark.parametrize(("status", "error_code", "cls", "code"), [
    (400, None, errors.InvalidProviderRequest, "invalid_request"),
    (401, None, errors.ProviderAuthFailed, "auth_failed"),
    (403, None, errors.ProviderAuthFailed, "auth_failed"),
    (404, None, errors.ModelNotFound, "model_not_found"),
    (400, "context_length_exceeded", errors.ContextLengthExceeded, "context_length_exceeded"),
    (400, "content_policy_violation", errors.ContentPolicy, "content_policy"),
])
@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("name", PROVIDERS)
async def test_client_errors_are_permanent_with_distinct_codes(
    registry: ProviderRegistry, sim: RunningSimulator, name: str, call: str,
    status: int, error_code: str | None, cls: type[errors.ProviderPermanent], code: str,
) -> None:
    await sim.configure(status=status, error_code=error_code)
    with pytest.raises(cls) as info:
        await CALLS[call](registry, name)
    exc = info.value
    assert isinstance(exc, Permanent) and not exc.retryable
    assert (exc.code, exc.provider, exc.provider_status) == (code, name, status)
    assert "sk-test" not in str(exc.as_dict())


@pytest.mark.parametrize("malformed", ["json", "shape"])
@pytest.mark.parametrize("name", PROVIDERS)
async def test_malformed_body_is_retryable(registry: ProviderRegistry, sim: RunningSimulator,
                                           name: str, malformed: str) -> None:
    await sim.configure(malformed=malformed)
    with pytest.raises(errors.ProviderRetryable) as info:
        await complete(registry, name)
    assert info.value.code == "bad_response"


@pytest.mark.parametrize("malformed", ["json", "truncate"])
@pytest.mark.parametrize("name", PROVIDERS)
async def test_malformed_stream_is_retryable(registry: ProviderRegistry, sim: RunningSimulator,
                                             name: str, malformed: str) -> None:
    await sim.configure(malformed=malformed)
    with pytest.raises(errors.ProviderRetryable) as info:
        await stream(registry, name)
    assert info.value.code == "bad_response"


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("name", PROVIDERS)
async def test_hang_times_out_as_retryable(sim: RunningSimulator, name: str, call: str,
                                          transport: str) -> None:
    registry = sim_registry(sim, request_timeout_s=0.3, openai_transport=transport)
    await sim.configure(hang=True)
    try:
        with pytest.raises(errors.ProviderRetryable) as info:
            await CALLS[call](registry, name)
        assert info.value.code == "timeout"
    finally:
        await registry.aclose()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.parametrize("name", PROVIDERS)
async def test_unreachable_provider_is_a_connection_error(sim: RunningSimulator,
                                                          name: str, transport: str) -> None:
    from dataclasses import replace

    dead = replace(sim, url=f"http://127.0.0.1:{_closed_port()}")
    registry = sim_registry(dead, openai_transport=transport)
    try:
        with pytest.raises(errors.ProviderRetryable) as info:
            await complete(registry, name)
        assert info.value.code in ("connection_error", "timeout")
    finally:
        await registry.aclose()


@pytest.mark.parametrize("name", [n for n in PROVIDERS if n != "vllm"])
async def test_missing_credential_fails_before_any_request(
    registry: ProviderRegistry, sim: RunningSimulator, name: str,
) -> None:
    with pytest.raises(errors.ProviderAuthFailed):
        await registry[name].complete(REQUEST, model=MODELS[name], api_key=None)
    assert (await sim.stats())["requests"] == 0


async def test_keyless_self_hosted_provider(registry: ProviderRegistry) -> None:
    result = await registry["vllm"].complete(REQUEST, model=MODELS["vllm"], api_key=None)
    assert result.content == "sim: hello"
