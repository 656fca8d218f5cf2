from __future__ import annotations

from typing import Any

import pytest

from services.bridges.model import BridgeSpec, Variable
from services.bridges.schema_check import tool_schema_errors
from services.bridges.validate import validate_spec
from services.chat.schemas import ModelRef
from services.errors import Invalid
from services.providers.types import HttpTool


def fails(spec: BridgeSpec, field: str, **kw: Any) -> Invalid:
    with pytest.raises(Invalid) as caught:
        validate_spec(spec, **kw)
    assert caught.value.field == field
    return caught.value


def test_a_sound_spec_passes() -> None:
    validate_spec(BridgeSpec(
        provider="openai", model="gpt-4o-mini", system_prompt="Hi {{name}}",
        variables=[Variable(name="name", required=True)],
        fallbacks=[ModelRef(provider="anthropic", model="claude-3-5-haiku-20241022")],
        tools=[HttpTool(name="lookup", parameters={
            "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"],
        })],
    ))


def test_unknown_provider_and_model_are_refused() -> None:
    assert "nope" in fails(BridgeSpec(provider="nope", model="x"), "provider").message
    assert "gpt-9" in fails(BridgeSpec(provider="openai", model="gpt-9"), "model").message
    bad_fallback = BridgeSpec(fallbacks=[ModelRef(provider="openai", model="gpt-9")])
    fails(bad_fallback, "fallbacks[0]")


def test_self_hosted_providers_take_any_model() -> None:
    validate_spec(BridgeSpec(provider="vllm", model="my-llama"), open_providers={"vllm"})
    fails(BridgeSpec(provider="vllm", model="my-llama"), "provider")


def test_embedding_models_cannot_chat() -> None:
    fails(BridgeSpec(provider="openai", model="text-embedding-3-small"), "model")


def test_placeholders_must_be_declared_once() -> None:
    err = fails(BridgeSpec(system_prompt="{{who}} {{what}}", variables=[Variable(name="who")]),
                "system_prompt")
    assert err.details["undeclared"] == ["what"]
    fails(BridgeSpec(variables=[Variable(name="a"), Variable(name="a")]), "variables")


def test_tool_schemas_are_checked_on_save() -> None:
    bad = HttpTool(name="t", parameters={"type": "object", "properties": []})
    err = fails(BridgeSpec(tools=[bad]), "tools[0].parameters")
    assert "properties" in err.message
    dup = HttpTool(name="t")
    fails(BridgeSpec(tools=[dup, dup]), "tools[1].name")


@pytest.mark.parametrize(("schema", "needle"), [
    ({"type": "string"}, "parameters.type"),
    ({"type": "object", "properties": {"a": {"type": "strng"}}}, "properties.a.type"),
    ({"type": "object", "properties": {}, "required": ["a"]}, "unknown properties a"),
    ({"type": "object", "properties": {"a": {"type": "array", "items": "x"}}}, "a.items"),
    ({"type": "object", "properties": {"a": {"enum": []}}}, "enum"),
    ({"type": "object", "properties": {"a": {"anyOf": [{"type": "nope"}]}}}, "anyOf[0].type"),
    ("not a schema", "must be a JSON object"),
])
def test_schema_mistakes_are_named(schema: Any, needle: str) -> None:
    errors = tool_schema_errors(schema)
    assert any(needle in e for e in errors), errors


def test_nested_valid_schema_has_no_errors() -> None:
    assert tool_schema_errors({
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": ["integer", "null"]}, "kind": {"enum": ["a", "b"]},
            }, "required": ["id"]}},
            "when": {"anyOf": [{"type": "string"}, {"type": "number"}]},
        },
        "required": ["items"],
    }) == []
