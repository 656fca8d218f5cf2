"""The deterministic brain shared by every wire format.

Each format module reduces its request to a `Prompt`; `answer` decides the reply:

- the last message is a tool result -> text `sim: tool result: <content>` (several results
  are joined with `; `), so a tool round trip can be asserted end to end;
- tools are offered, the last message is from the user, tool choice is not "none", and
  EITHER the tool choice forces a call (OpenAI/Mistral/Groq `required`/`any` or a named
  function, Anthropic `any`/`tool`) OR the user text contains "use tool" (any case) ->
  a call to the forced tool, else to the first tool whose name appears in the user text,
  else to the first tool; arguments are built from its JSON schema (`schema_value`);
- JSON mode -> the JSON text of `schema_value(schema)`; a schema with no properties
  (plain json_object mode) gives `{"answer": "sim: <text>"}`; a boolean property named
  `flagged` (a moderation verdict) is true only when the user text contains FLAG_WORD;
- otherwise -> `sim: <last user text>`, with ` [N image(s)]` appended when images came.

Tokens are whitespace words (input: every message and the system prompt, plus one per
message; output: the words of the reply), so usage is exact and predictable in tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

# What makes a moderation verdict (`{"flagged": ...}`) come back flagged, in any case.
FLAG_WORD = "flag me"


@dataclass(slots=True)
class Prompt:
    last_role: str = "user"  # "user" | "tool" (the last message was tool results)
    text: str = ""  # last user text, or the tool results joined
    images: int = 0
    input_words: int = 0
    tools: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # None = auto; "none"; "any" (must call some tool); or a tool name.
    tool_choice: str | None = None
    # None = text; {} = json_object; a JSON schema = json_schema.
    json_schema: dict[str, Any] | None = None


@dataclass(slots=True)
class Answer:
    text: str | None
    tool_name: str | None = None
    tool_args: str = ""
    input_tokens: int = 0
    output_tokens: int = 0


def schema_value(schema: dict[str, Any], reply: str = "sim") -> Any:
    """A simple value that satisfies `schema` (required properties, or all of them):
    strings "sim", integers 1, numbers 1.5, booleans true, enums their first value, and
    an object without properties `{"answer": reply}`."""
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return schema_value(schema[key][0], reply)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props: dict[str, Any] = schema.get("properties") or {}
        if not props:
            return {"answer": reply}
        names = schema.get("required") or list(props)
        return {name: schema_value(props.get(name, {}), reply) for name in names}
    if kind == "array":
        items = schema.get("items") or {}
        count = schema.get("minItems", 0)
        return [schema_value(items, reply) for _ in range(count)]
    return {"string": "sim", "integer": 1, "number": 1.5, "boolean": True, "null": None}.get(
        kind, "sim"
    )


def _pick_tool(prompt: Prompt) -> tuple[str, dict[str, Any]] | None:
    if not prompt.tools or prompt.last_role != "user" or prompt.tool_choice == "none":
        return None
    choice = prompt.tool_choice
    if choice not in (None, "any", "auto"):
        return next((t for t in prompt.tools if t[0] == choice), prompt.tools[0])
    if choice != "any" and "use tool" not in prompt.text.lower():
        return None
    return next((t for t in prompt.tools if t[0] in prompt.text), prompt.tools[0])


def answer(prompt: Prompt) -> Answer:
    tool = _pick_tool(prompt)
    if tool is not None:
        args = orjson.dumps(schema_value(tool[1], f"sim: {prompt.text}")).decode()
        return Answer(None, tool[0], args, prompt.input_words, len(args.split()) + 1)
    if prompt.last_role == "tool":
        reply = f"sim: tool result: {prompt.text}"
    else:
        reply = f"sim: {prompt.text}"
        if prompt.images:
            reply += f" [{prompt.images} image{'s' if prompt.images > 1 else ''}]"
    if prompt.json_schema is not None:
        value = schema_value(prompt.json_schema or {"type": "object"}, reply)
        if isinstance(value, dict) and isinstance(value.get("flagged"), bool):
            value["flagged"] = FLAG_WORD in prompt.text.lower()
        reply = orjson.dumps(value).decode()
    return Answer(reply, input_tokens=prompt.input_words, output_tokens=len(reply.split()))


def words(text: str | None) -> int:
    return len(text.split()) if text else 0


def pieces(text: str) -> list[str]:
    """The streamed pieces of `text`: one per word, spaces kept, so they concatenate back."""
    parts = text.split(" ")
    return [parts[0], *(" " + p for p in parts[1:])] if text else []
