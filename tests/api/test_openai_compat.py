"""The official `openai` SDK, unchanged, against our /v1 served by uvicorn on a local port,
with every provider answered by the provider simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest

from api.app import create_app
from services.context import Context
from services.providers.simulator.server import RunningSimulator
from tests.backends import context
from tests.chat_support import chat_settings
from tests.serving import serve
from tests.sim_fixtures import sim, sim_server  # noqa: F401

ORG_KEY = "sk-org-a-openai-key-5150"


@dataclass
class Served:
    ctx: Context
    client: openai.AsyncOpenAI
    sim: RunningSimulator


@pytest.fixture
async def served(sim: RunningSimulator, unique: str, tmp_path: Path) -> AsyncIterator[Served]:  # noqa: F811
    settings = chat_settings("embedded", unique, tmp_path, sim_url=sim.url)
    async with context(settings) as ctx:
        assert ctx.credentials is not None
        await ctx.credentials.put("org-a", "openai", ORG_KEY)
        async with serve(create_app(settings, ctx=ctx)) as url:
            client = openai.AsyncOpenAI(base_url=url + "/v1", api_key=(await ctx.keys.create("org-a"))[0],
                                        max_retries=0, timeout=30)
            async with client:
                yield Served(ctx, client, sim)


async def make_bridge(s: Served, **kw: Any) -> None:
    assert s.ctx.bridges is not None
    from services.bridges.model import Variable
    from services.bridges.schemas import BridgeCreate

    await s.ctx.bridges.create("org-a", BridgeCreate(**{
        "name": "Helper", "provider": "openai", "model": "gpt-4o-mini",
        "system_prompt": "Help {{customer}}.", "variables": [Variable(name="customer", required=True)],
        **kw}))


def sent(s: Served) -> dict[str, Any]:
    """The last request body the simulator received as OpenAI."""
    assert s.sim.state is not None
    return s.sim.state.last["openai"]


async def test_provider_model_whole_answer(served: Served) -> None:
    answer = await served.client.chat.completions.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hello there"}],
        temperature=0.2,
    )
    assert answer.object == "chat.completion" and answer.id.startswith("chatcmpl-")
    assert answer.choices[0].message.content == "sim: hello there"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None and answer.usage.total_tokens > 0
    assert sent(served)["model"] == "gpt-4o-mini" and sent(served)["temperature"] == 0.2


async def test_provider_model_streamed(served: Served) -> None:
    stream = await served.client.chat.completions.create(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "stream me please"}],
        stream=True, stream_options={"include_usage": True},
    )
    text, finishes, usage = "", [], None
    async for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finishes.append(choice.finish_reason)
    assert text == "sim: stream me please"
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert usage is not None and usage.completion_tokens > 0


async def test_bridge_whole_answer_uses_its_prompt(served: Served) -> None:
    await make_bridge(served)
    answer = await served.client.chat.completions.create(
        model="bridge/helper", messages=[{"role": "user", "content": "where is my order"}],
        extra_body={"variables": {"customer": "Ada"}},
    )
    assert answer.choices[0].message.content == "sim: where is my order"
    assert answer.model == "bridge/helper"
    messages = sent(served)["messages"]
    assert messages[0] == {"role": "system", "content": "Help Ada."}
    job = await served.ctx.jobs.get("job_" + answer.id.removeprefix("chatcmpl-"))
    assert job is not None and job.meta["bridge_version"] == 1


async def test_bridge_streamed(served: Served) -> None:
    await make_bridge(served)
    stream = await served.client.chat.completions.create(
        model="bridge/helper", messages=[{"role": "user", "content": "stream it"}],
        extra_body={"variables": {"customer": "Bo"}}, stream=True,
    )
    pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(pieces) == "sim: stream it" and len(pieces) > 2
    assert sent(served)["messages"][0]["content"] == "Help Bo."


async def test_tool_calls_come_back_in_openai_shape(served: Served) -> None:
    tools = [{"type": "function", "function": {
        "name": "lookup_order", "description": "find an order",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}},
                       "required": ["order_id"]}}}]
    answer = await served.client.chat.completions.create(
        model="openai/gpt-4o-mini", tools=tools,  # type: ignore[arg-type]
        messages=[{"role": "user", "content": "please use tool lookup_order"}],
    )
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert call.function.name == "lookup_order" and '"order_id"' in call.function.arguments


async def test_models_lists_bridges_and_provider_models(served: Served) -> None:
    await make_bridge(served)
    ids = [m.id async for m in served.client.models.list()]
    assert "bridge/helper" in ids and "openai/gpt-4o-mini" in ids


async def test_errors_reach_the_sdk_as_its_own_exceptions(served: Served) -> None:
    await make_bridge(served)
    user = [{"role": "user", "content": "x"}]
    with pytest.raises(openai.NotFoundError):
        await served.client.chat.completions.create(model="openai/gpt-404", messages=user)  # type: ignore[arg-type]
    with pytest.raises(openai.NotFoundError):
        await served.client.chat.completions.create(model="bridge/nope", messages=user)  # type: ignore[arg-type]
    with pytest.raises(openai.UnprocessableEntityError) as missing:
        await served.client.chat.completions.create(model="bridge/helper", messages=user)  # type: ignore[arg-type]
    assert "customer" in str(missing.value)
    with pytest.raises(openai.UnprocessableEntityError):
        await served.client.chat.completions.create(model="bridge/helper", messages=user,  # type: ignore[arg-type]
                                                    stream=True)
    bad_key = openai.AsyncOpenAI(base_url=str(served.client.base_url), api_key="aim_bad_key")
    async with bad_key:
        with pytest.raises(openai.AuthenticationError):
            await bad_key.chat.completions.create(model="openai/gpt-4o-mini", messages=user)  # type: ignore[arg-type]
