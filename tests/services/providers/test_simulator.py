"""The simulator's dials, stats and wire formats, spoken to with a plain HTTP client."""

from __future__ import annotations

import time
from collections.abc import Mapping

import httpx
import orjson
import pytest

from services.providers.simulator.dials import Latency, from_model
from services.providers.simulator.server import (
    RunningSimulator,
    start_simulator,
    start_simulator_process,
)

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


async def post(sim: RunningSimulator, path: str, body: Mapping[str, object] | None = None,
               headers: dict[str, str] | None = None, timeout: float = 5) -> httpx.Response:
    async with httpx.AsyncClient(timeout=timeout) as client:
        return await client.post(sim.url + path, json=body or CHAT, headers=headers)


async def test_fail_first_n_then_success_per_key(sim: RunningSimulator) -> None:
    headers = {"x-sim-fail-first": "2", "x-sim-key": "job-1", "x-sim-fail-status": "429"}
    statuses = [(await post(sim, "/openai/v1/chat/completions", headers=headers)).status_code
                for _ in range(4)]
    assert statuses == [429, 429, 200, 200]
    # Another key has its own counter.
    other = await post(sim, "/openai/v1/chat/completions",
                       headers={**headers, "x-sim-key": "job-2"})
    assert other.status_code == 429
    assert (await sim.stats())["fail_first_attempts"] == {"job-1": 4, "job-2": 1}


async def test_fail_first_in_the_model_name(sim: RunningSimulator) -> None:
    body = {**CHAT, "model": "sim-failfirst-1-abc"}
    first = await post(sim, "/anthropic/v1/messages", body)
    second = await post(sim, "/anthropic/v1/messages", body)
    assert (first.status_code, second.status_code) == (503, 200)


async def test_error_rate_one_always_fails_and_zero_never(sim: RunningSimulator) -> None:
    await sim.configure(error_rate={"500": 1.0})
    failing = [(await post(sim, "/openai/v1/chat/completions")).status_code for _ in range(5)]
    await sim.configure(error_rate={"500": 0.0})
    passing = [(await post(sim, "/openai/v1/chat/completions")).status_code for _ in range(5)]
    assert (failing, passing) == ([500] * 5, [200] * 5)


async def test_error_rate_header_is_roughly_honoured(sim: RunningSimulator) -> None:
    headers = {"x-sim-error-rate": "503=0.5"}
    statuses = [(await post(sim, "/openai/v1/chat/completions", headers=headers)).status_code
                for _ in range(60)]
    assert 10 < statuses.count(503) < 50
    assert set(statuses) == {200, 503}


async def test_stats_count_routes_models_providers_and_statuses(sim: RunningSimulator) -> None:
    await post(sim, "/openai/v1/chat/completions")
    await post(sim, "/groq/openai/v1/chat/completions", {**CHAT, "model": "llama"})
    await post(sim, "/openai/v1/embeddings", {"model": "emb", "input": "x"})
    await post(sim, "/openai/v1/chat/completions", {**CHAT, "model": "sim-fail-503"})
    stats = await sim.stats()
    assert stats["requests"] == 4
    assert stats["by_route"] == {"/openai/v1/chat/completions": 2,
                                 "/groq/openai/v1/chat/completions": 1,
                                 "/openai/v1/embeddings": 1}
    assert stats["by_model"] == {"gpt-4o-mini": 1, "llama": 1, "emb": 1, "sim-fail-503": 1}
    assert stats["by_provider"] == {"openai": 3, "groq": 1}
    assert stats["by_status"] == {"200": 3, "503": 1}
    await sim.reset()
    assert (await sim.stats())["requests"] == 0


async def test_config_scopes_by_provider_and_model(sim: RunningSimulator) -> None:
    await sim.configure({"providers": {"anthropic": {"status": 529}},
                         "models": {"gpt-4o": {"status": 401}}})
    assert (await post(sim, "/anthropic/v1/messages")).status_code == 529
    assert (await post(sim, "/openai/v1/chat/completions")).status_code == 200
    assert (await post(sim, "/openai/v1/chat/completions",
                       {**CHAT, "model": "gpt-4o"})).status_code == 401
    # A header beats the config.
    assert (await post(sim, "/anthropic/v1/messages",
                       headers={"x-sim-status": "400"})).status_code == 400


async def test_unknown_dial_is_rejected(sim: RunningSimulator) -> None:
    with pytest.raises(httpx.HTTPStatusError):
        await sim.configure(latncy=5)
    response = await post(sim, "/openai/v1/chat/completions", headers={"x-sim-nope": "1"})
    assert response.status_code == 400


async def test_429_carries_retry_after_headers(sim: RunningSimulator) -> None:
    response = await post(sim, "/openai/v1/chat/completions",
                          headers={"x-sim-status": "429", "x-sim-retry-after-ms": "250"})
    assert response.status_code == 429
    assert (response.headers["retry-after"], response.headers["retry-after-ms"]) == ("1", "250")
    assert response.json()["error"]["code"] == "rate_limit_exceeded"


async def test_fixed_latency(sim: RunningSimulator) -> None:
    started = time.perf_counter()
    await post(sim, "/openai/v1/chat/completions", headers={"x-sim-latency-ms": "150"})
    assert time.perf_counter() - started >= 0.15


def test_latency_distributions() -> None:
    uniform = Latency.parse("uniform:10:20")
    assert uniform is not None and all(10 <= uniform.sample_ms() <= 20 for _ in range(200))
    lognormal = Latency.parse({"dist": "lognormal", "p50_ms": 10, "p99_ms": 100})
    assert lognormal is not None
    samples = sorted(lognormal.sample_ms() for _ in range(4000))
    assert 8 < samples[2000] < 12.5
    assert 60 < samples[3960] < 160
    assert Latency.parse("25") == Latency("fixed", 25.0)
    assert Latency.parse(0) is None


def test_model_name_dials() -> None:
    assert from_model("sim-50ms-fail-429") == {"latency": Latency("fixed", 50.0), "status": 429}
    assert from_model("sim-hang")["hang"] is True
    assert from_model("sim-truncate")["malformed"] == "truncate"
    assert from_model("sim-failfirst-3-k1") == {"fail_first": 3, "key": "sim-failfirst-3-k1"}


async def test_hang_holds_until_the_client_gives_up(sim: RunningSimulator) -> None:
    started = time.perf_counter()
    with pytest.raises(httpx.ReadTimeout):
        await post(sim, "/openai/v1/chat/completions", headers={"x-sim-hang": "1"},
                   timeout=0.3)
    assert 0.25 < time.perf_counter() - started < 2
    assert (await sim.stats())["by_status"] == {"hang": 1}


async def test_malformed_json_body(sim: RunningSimulator) -> None:
    response = await post(sim, "/openai/v1/chat/completions", headers={"x-sim-malformed": "json"})
    assert response.status_code == 200
    with pytest.raises(ValueError):
        orjson.loads(response.content)


async def test_openai_stream_wire_format(sim: RunningSimulator) -> None:
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    response = await post(sim, "/openai/v1/chat/completions", body)
    assert response.headers["content-type"].startswith("text/event-stream")
    lines = [ln for ln in response.text.split("\n\n") if ln]
    assert all(ln.startswith("data: ") for ln in lines)
    assert lines[-1] == "data: [DONE]"
    chunks = [orjson.loads(ln[6:]) for ln in lines[:-1]]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 4
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1])
    assert text == "sim: hi"


async def test_truncated_stream_stops_early(sim: RunningSimulator) -> None:
    body = {**CHAT, "stream": True}
    response = await post(sim, "/openai/v1/chat/completions", body,
                          headers={"x-sim-malformed": "truncate"})
    assert "[DONE]" not in response.text and "finish_reason\":\"stop" not in response.text


async def test_anthropic_stream_event_sequence(sim: RunningSimulator) -> None:
    body = {"model": "claude-x", "max_tokens": 10, "stream": True,
            "messages": [{"role": "user", "content": "hello world"}]}
    response = await post(sim, "/anthropic/v1/messages", body)
    names = [block.split("\n")[0].removeprefix("event: ")
             for block in response.text.split("\n\n") if block]
    assert names == ["message_start", "content_block_start", "ping",
                     "content_block_delta", "content_block_delta", "content_block_delta",
                     "content_block_stop", "message_delta", "message_stop"]


async def test_error_bodies_follow_each_provider(sim: RunningSimulator) -> None:
    headers = {"x-sim-status": "400"}
    openai_err = (await post(sim, "/openai/v1/chat/completions", headers=headers)).json()
    anthropic_err = (await post(sim, "/anthropic/v1/messages", headers=headers)).json()
    mistral_err = (await post(sim, "/mistral/v1/chat/completions", headers=headers)).json()
    gemini_err = (await post(sim, "/gemini/v1beta/openai/chat/completions",
                             headers=headers)).json()
    assert openai_err["error"]["type"] == "invalid_request_error"
    assert anthropic_err["type"] == "error"
    assert anthropic_err["error"]["type"] == "invalid_request_error"
    assert mistral_err["object"] == "error"
    assert gemini_err[0]["error"]["status"] == "INVALID_ARGUMENT"


async def test_any_openai_compatible_prefix(sim: RunningSimulator) -> None:
    response = await post(sim, "/my-vllm/v1/chat/completions")
    assert response.json()["choices"][0]["message"]["content"] == "sim: hi"
    assert (await sim.stats())["by_provider"] == {"my-vllm": 1}


async def test_unknown_route_is_404(sim: RunningSimulator) -> None:
    assert (await post(sim, "/nope")).status_code == 404


async def test_start_in_this_event_loop() -> None:
    running = await start_simulator()
    try:
        response = await post(running, "/openai/v1/chat/completions")
        assert response.json()["choices"][0]["message"]["content"] == "sim: hi"
        assert running.base_url("anthropic") == running.url + "/anthropic"
    finally:
        await running.stop()


async def test_start_as_a_child_process() -> None:
    running = await start_simulator_process()
    try:
        await running.configure(status=503)
        assert (await post(running, "/openai/v1/chat/completions")).status_code == 503
        assert (await running.stats())["by_status"] == {"503": 1}
    finally:
        await running.stop()
