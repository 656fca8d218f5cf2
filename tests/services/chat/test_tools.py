"""The HTTP tool loop against a real local tool server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from services.context import Context
from services.providers.simulator.server import RunningSimulator
from services.providers.types import Message, ToolCall
from tests.chat_support import chat_context, chat_settings, execute_chat, payload, upstream_calls
from tests.services.chat.scripted import ScriptedProvider
from tests.services.chat.tool_server import ToolServer, tool_server

WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}},
                  "required": ["city"]}


@pytest.fixture
async def tools() -> AsyncIterator[ToolServer]:
    async with tool_server() as server:
        yield server


def _weather(server: ToolServer, **kw: Any) -> dict[str, Any]:
    return {"name": "weather", "description": "current weather", "parameters": WEATHER_SCHEMA,
            "url": f"{server.url}/weather", **kw}


def _with_scripted(ctx: Context, script: Any) -> ScriptedProvider:
    assert ctx.chat is not None
    provider = ScriptedProvider(script)
    ctx.chat.providers = {**ctx.chat.providers, "scripted": provider}
    return provider


def _first_turn(*calls: ToolCall) -> Any:
    """Ask for `calls` when the user spoke last; answer once tool results came back."""
    return lambda messages: list(calls) if messages[-1].role == "user" else []


def _tool_messages(provider: ScriptedProvider) -> list[dict[str, Any]]:
    last: list[Message] = provider.requests[-1].messages
    texts = [str(m.content) for m in last if m.role == "tool"]
    return [orjson.loads(t) if t.startswith("{") else {"raw": t} for t in texts]


async def test_tool_round_trip_through_the_simulator(
    sim: RunningSimulator, tools: ToolServer, unique: str, tmp_path: Path
) -> None:
    model = f"tools-{unique}"
    settings = chat_settings("embedded", unique, tmp_path, sim_url=sim.url)
    async with chat_context(settings) as ctx:
        result = await execute_chat(ctx, payload(
            "please use tool weather", model=model,
            tools=[_weather(tools, headers={"X-Tool-Key": "tool-secret"})]), org_id="org-a")
    assert result["content"] == 'sim: tool result: {"temp_c":21,"city":"sim"}'
    assert result["tool_rounds"] == 1 and result["finish_reason"] == "stop"
    assert result["cache"] == "bypass"  # HTTP tools always run
    assert await upstream_calls(sim, model) == 2
    [(method, path, _, body, headers)] = tools.received
    assert (method, path, body) == ("POST", "/weather", {"city": "sim"})
    assert headers["x-tool-key"] == "tool-secret"
    assert "tool-secret" not in orjson.dumps(result).decode()


async def test_invented_tool_name_is_fed_back_as_an_error(
    tools: ToolServer, unique: str, tmp_path: Path
) -> None:
    settings = chat_settings("embedded", unique, tmp_path)
    async with chat_context(settings) as ctx:
        model = _with_scripted(ctx, _first_turn(
            ToolCall(id="c1", name="launch_missiles", arguments="{}"),
            ToolCall(id="c2", name="weather", arguments='{"city": "Oslo"}')))
        result = await execute_chat(ctx, payload(provider="scripted", model="s",
                                                 tools=[_weather(tools)]), org_id="org-a")
    invented, real = _tool_messages(model)
    assert invented == {"error": "unknown tool 'launch_missiles'", "available": ["weather"]}
    assert real == {"temp_c": 21, "city": "Oslo"}
    assert tools.hits("/weather") == 1
    assert result["finish_reason"] == "stop" and result["tool_rounds"] == 1


async def test_tool_rounds_stop_at_the_depth_limit(
    tools: ToolServer, unique: str, tmp_path: Path
) -> None:
    settings = chat_settings("embedded", unique, tmp_path, chat={"tool_max_depth": 2})
    async with chat_context(settings) as ctx:
        model = _with_scripted(ctx, lambda messages: [
            ToolCall(id=f"c{len(messages)}", name="weather", arguments='{"city": "x"}')])
        result = await execute_chat(ctx, payload(provider="scripted", model="s",
                                                 tools=[_weather(tools)]), org_id="org-a")
    assert tools.hits("/weather") == 2
    assert len(model.requests) == 3
    assert result["tool_rounds"] == 2 and result["finish_reason"] == "tool_calls"
    assert result["tool_calls"][0]["name"] == "weather"


async def test_private_addresses_are_refused(
    tools: ToolServer, unique: str, tmp_path: Path
) -> None:
    settings = chat_settings("embedded", unique, tmp_path, chat={"tool_allow_hosts": []})
    async with chat_context(settings) as ctx:
        model = _with_scripted(ctx, _first_turn(ToolCall(id="c1", name="weather",
                                                         arguments='{"city": "x"}')))
        await execute_chat(ctx, payload(provider="scripted", model="s", tools=[_weather(tools)]),
                           org_id="org-a")
    [refused] = _tool_messages(model)
    assert "refused" in refused["error"] and "loopback" in refused["error"]
    assert tools.received == []


async def test_tool_failures_become_results(
    tools: ToolServer, unique: str, tmp_path: Path
) -> None:
    settings = chat_settings("embedded", unique, tmp_path, chat={"tool_timeout_s": 0.3})
    declared = [
        {"name": "slow", "url": f"{tools.url}/slow"},
        {"name": "broken", "url": f"{tools.url}/fail"},
        {"name": "lookup", "url": f"{tools.url}/lookup", "method": "GET"},
    ]
    async with chat_context(settings) as ctx:
        model = _with_scripted(ctx, _first_turn(
            ToolCall(id="c1", name="slow", arguments="{}"),
            ToolCall(id="c2", name="broken", arguments="{}"),
            ToolCall(id="c3", name="lookup", arguments='{"q": "a b", "n": 2}'),
            ToolCall(id="c4", name="lookup", arguments="not json")))
        result = await execute_chat(ctx, payload(provider="scripted", model="s", tools=declared),
                                    org_id="org-a")
    slow, broken, lookup, bad_args = _tool_messages(model)
    assert "did not answer" in slow["error"]
    assert broken == {"error": "the tool answered HTTP 500", "body": "tool exploded"}
    assert lookup == {"raw": "ok"}
    assert bad_args == {"error": "the arguments are not valid JSON"}
    assert [r[2] for r in tools.received if r[1] == "/lookup"] == ["q=a+b&n=2"]
    assert result["finish_reason"] == "stop"


async def test_tools_without_a_url_are_returned_to_the_caller(
    tools: ToolServer, unique: str, tmp_path: Path
) -> None:
    settings = chat_settings("embedded", unique, tmp_path)
    async with chat_context(settings) as ctx:
        model = _with_scripted(ctx, _first_turn(ToolCall(id="c1", name="pick_color",
                                                         arguments='{"hue": 1}')))
        result = await execute_chat(ctx, payload(provider="scripted", model="s", tools=[
            {"name": "pick_color"}, _weather(tools)]), org_id="org-a")
    assert result["tool_calls"] == [{"id": "c1", "name": "pick_color", "arguments": '{"hue": 1}'}]
    assert result["finish_reason"] == "tool_calls" and result["tool_rounds"] == 0
    assert len(model.requests) == 1 and tools.received == []
