"""One contract for every adapter, each through its real SDK over HTTP to the simulator."""

from __future__ import annotations

import json

import pytest

from services.providers.pricing import cost_usd
from services.providers.registry import ProviderRegistry
from services.providers.simulator.server import RunningSimulator
from services.providers.types import (
    ChatRequest,
    ContentPart,
    HttpTool,
    Message,
    ResponseFormat,
    StreamChunk,
    ToolCall,
)
from tests.services.providers.conftest import EMBEDDING_MODELS, MODELS

PROVIDERS = list(MODELS)
WEATHER = HttpTool(
    name="get_weather", description="Current weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"},
                                                 "days": {"type": "integer"}},
                "required": ["city"]},
)


def ask(text: str, **kw: object) -> ChatRequest:
    return ChatRequest(messages=[Message(role="user", content=text)], **kw)  # type: ignore[arg-type]


async def collect(registry: ProviderRegistry, name: str, request: ChatRequest) -> list[StreamChunk]:
    return [c async for c in registry[name].stream(request, model=MODELS[name], api_key="sk-test")]


@pytest.mark.parametrize("name", PROVIDERS)
async def test_plain_answer_with_usage_and_cost(registry: ProviderRegistry, name: str) -> None:
    result = await registry[name].complete(ask("hello there"), model=MODELS[name], api_key="k")
    assert result.content == "sim: hello there"
    assert result.finish_reason == "stop"
    assert result.tool_calls == []
    assert (result.provider, result.model) == (name, MODELS[name])
    assert result.usage.input_tokens == 3 and result.usage.output_tokens == 3
    assert result.cost_usd == cost_usd(name, MODELS[name], result.usage)
    assert (result.cost_usd > 0) == (name != "vllm")
    assert result.latency_ms > 0


@pytest.mark.parametrize("name", PROVIDERS)
async def test_images_reach_the_provider(registry: ProviderRegistry, name: str) -> None:
    content = [ContentPart(type="text", text="what is this"),
               ContentPart(type="image_url", image_url="data:image/png;base64,iVBORw0KGgo=")]
    request = ChatRequest(messages=[Message(role="user", content=content)])
    result = await registry[name].complete(request, model=MODELS[name], api_key="k")
    assert result.content == "sim: what is this [1 image]"


@pytest.mark.parametrize("name", PROVIDERS)
async def test_json_object_mode(registry: ProviderRegistry, name: str) -> None:
    request = ask("give json", response_format=ResponseFormat(type="json_object"))
    result = await registry[name].complete(request, model=MODELS[name], api_key="k")
    assert json.loads(result.content or "") == {"answer": "sim: give json"}
    assert result.finish_reason == "stop"


@pytest.mark.parametrize("name", PROVIDERS)
async def test_json_schema_mode(registry: ProviderRegistry, name: str) -> None:
    schema = {"type": "object", "properties": {"title": {"type": "string"},
                                               "score": {"type": "number"}},
              "required": ["title", "score"]}
    request = ask("rate it", response_format=ResponseFormat(type="json_schema", json_schema=schema))
    result = await registry[name].complete(request, model=MODELS[name], api_key="k")
    assert set(json.loads(result.content or "")) == {"title", "score"}


@pytest.mark.parametrize("name", PROVIDERS)
async def test_tool_call_round_trip(registry: ProviderRegistry, name: str) -> None:
    provider = registry[name]
    request = ask("use tool get_weather for Paris", tools=[WEATHER])
    first = await provider.complete(request, model=MODELS[name], api_key="k")
    assert first.finish_reason == "tool_calls"
    [call] = first.tool_calls
    assert call.name == "get_weather" and call.id
    assert json.loads(call.arguments) == {"city": "sim"}

    request.messages += [
        Message(role="assistant", content=None, tool_calls=[call]),
        Message(role="tool", tool_call_id=call.id, name=call.name, content="18C and sunny"),
    ]
    second = await provider.complete(request, model=MODELS[name], api_key="k")
    assert second.finish_reason == "stop"
    assert second.content == "sim: tool result: 18C and sunny"


@pytest.mark.parametrize("name", PROVIDERS)
async def test_forced_tool_choice_and_none(registry: ProviderRegistry, name: str) -> None:
    provider = registry[name]
    forced = await provider.complete(ask("hi", tools=[WEATHER], tool_choice="required"),
                                     model=MODELS[name], api_key="k")
    assert [c.name for c in forced.tool_calls] == ["get_weather"]
    named = await provider.complete(ask("hi", tools=[WEATHER], tool_choice="get_weather"),
                                    model=MODELS[name], api_key="k")
    assert [c.name for c in named.tool_calls] == ["get_weather"]
    none = await provider.complete(ask("use tool now", tools=[WEATHER], tool_choice="none"),
                                   model=MODELS[name], api_key="k")
    assert none.tool_calls == [] and none.content == "sim: use tool now"


@pytest.mark.parametrize("name", PROVIDERS)
async def test_stream_concatenates_to_the_answer(registry: ProviderRegistry, name: str) -> None:
    chunks = await collect(registry, name, ask("stream me a reply"))
    assert "".join(c.delta for c in chunks) == "sim: stream me a reply"
    assert len(chunks) > 2
    *body, last = chunks
    assert all(c.finish_reason is None and c.usage is None for c in body)
    assert last.finish_reason == "stop"
    assert last.usage is not None
    assert (last.usage.input_tokens, last.usage.output_tokens) == (5, 5)


@pytest.mark.parametrize("name", PROVIDERS)
async def test_stream_tool_call(registry: ProviderRegistry, name: str) -> None:
    chunks = await collect(registry, name, ask("use tool please", tools=[WEATHER]))
    last = chunks[-1]
    assert last.finish_reason == "tool_calls"
    [call] = last.tool_calls
    assert call.name == "get_weather" and call.id
    assert json.loads(call.arguments) == {"city": "sim"}


@pytest.mark.parametrize("name", PROVIDERS)
async def test_stream_json_mode(registry: ProviderRegistry, name: str) -> None:
    chunks = await collect(registry, name,
                           ask("as json", response_format=ResponseFormat(type="json_object")))
    assert json.loads("".join(c.delta for c in chunks)) == {"answer": "sim: as json"}
    assert chunks[-1].finish_reason == "stop" and chunks[-1].tool_calls == []


@pytest.mark.parametrize("name", PROVIDERS)
async def test_embeddings(registry: ProviderRegistry, name: str) -> None:
    from services.providers.errors import Unsupported

    provider = registry[name]
    if name not in EMBEDDING_MODELS:
        with pytest.raises(Unsupported) as info:
            await provider.embed(["x"], model="any", api_key="k")
        assert info.value.code == "unsupported"
        return
    result = await provider.embed(["one two", "three"], model=EMBEDDING_MODELS[name],
                                  api_key="k")
    assert len(result.vectors) == 2 and all(len(v) == 8 for v in result.vectors)
    assert result.vectors[0] != result.vectors[1]
    assert result.usage.input_tokens == 3
    assert result.provider == name


async def test_assistant_history_is_sent(registry: ProviderRegistry, sim: RunningSimulator) -> None:
    history = ChatRequest(system="be brief", messages=[
        Message(role="user", content="first"),
        Message(role="assistant", content="sim: first"),
        Message(role="user", content="second"),
    ], temperature=0.3, max_tokens=50, stop=["END"], seed=7, user="u-1")
    for name in PROVIDERS:
        result = await registry[name].complete(history, model=MODELS[name], api_key="k")
        assert result.content == "sim: second"
    assert sim.state is not None
    openai_body = sim.state.last["openai"]
    assert openai_body["messages"][0] == {"role": "system", "content": "be brief"}
    assert (openai_body["temperature"], openai_body["max_completion_tokens"],
            openai_body["stop"], openai_body["seed"], openai_body["user"]) == (
        0.3, 50, ["END"], 7, "u-1")
    assert sim.state.last["openrouter"]["max_tokens"] == 50
    assert "user" not in sim.state.last["gemini"]
    mistral_body = sim.state.last["mistral"]
    assert (mistral_body["random_seed"], mistral_body["max_tokens"]) == (7, 50)
    anthropic_body = sim.state.last["anthropic"]
    assert anthropic_body["system"] == "be brief"
    assert [m["role"] for m in anthropic_body["messages"]] == ["user", "assistant", "user"]
    assert (anthropic_body["max_tokens"], anthropic_body["stop_sequences"],
            anthropic_body["metadata"]) == (50, ["END"], {"user_id": "u-1"})
    assert "temperature" not in anthropic_body


def test_tool_call_model_is_shared() -> None:
    # The adapters return the normalized ToolCall: arguments stay JSON text.
    assert ToolCall(id="1", name="f", arguments="{}").arguments == "{}"
