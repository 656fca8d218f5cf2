"""Structural checks of a tool's JSON Schema, so a bad schema fails on save, not mid-run.

Not a full JSON Schema validator: it checks what providers reject (OpenAI and Anthropic both
require an `object` at the top with a `properties` map) and the mistakes people make by
hand (an unknown `type`, `required` naming a missing property, `properties` as a list).
"""

from __future__ import annotations

from typing import Any

JSON_TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})
COMBINATORS = ("anyOf", "oneOf", "allOf")
# Nesting deeper than this is a mistake or an attack; real tool schemas stay under 6.
MAX_DEPTH = 32


def tool_schema_errors(schema: Any) -> list[str]:
    """Every problem found, as `path: message`; empty when the schema is usable."""
    if not isinstance(schema, dict):
        return ["parameters: must be a JSON object"]
    errors: list[str] = []
    if schema.get("type") != "object":
        errors.append("parameters.type: must be 'object'")
    if not isinstance(schema.get("properties", {}), dict):
        errors.append("parameters.properties: must be an object")
    _check(schema, "parameters", 0, errors)
    return errors


def _check(schema: Any, path: str, depth: int, errors: list[str]) -> None:
    if depth > MAX_DEPTH:
        errors.append(f"{path}: nested deeper than {MAX_DEPTH} levels")
        return
    if not isinstance(schema, dict):
        errors.append(f"{path}: must be a JSON object")
        return
    types = _types(schema.get("type"), path, errors)
    props = schema.get("properties")
    if props is not None:
        if isinstance(props, dict):
            for name, sub in props.items():
                _check(sub, f"{path}.properties.{name}", depth + 1, errors)
        elif depth:
            errors.append(f"{path}.properties: must be an object")
    _check_required(schema, props, path, errors)
    if "array" in types and "items" in schema:
        _check(schema["items"], f"{path}.items", depth + 1, errors)
    if "enum" in schema and not (isinstance(schema["enum"], list) and schema["enum"]):
        errors.append(f"{path}.enum: must be a non-empty list")
    for key in COMBINATORS:
        if key in schema:
            options = schema[key]
            if not (isinstance(options, list) and options):
                errors.append(f"{path}.{key}: must be a non-empty list")
                continue
            for i, sub in enumerate(options):
                _check(sub, f"{path}.{key}[{i}]", depth + 1, errors)


def _types(raw: Any, path: str, errors: list[str]) -> list[str]:
    if raw is None:
        return []
    types = raw if isinstance(raw, list) else [raw]
    bad = [t for t in types if not isinstance(t, str) or t not in JSON_TYPES]
    if bad or not types:
        errors.append(f"{path}.type: {raw!r} is not a JSON Schema type")
    return [t for t in types if isinstance(t, str)]


def _check_required(schema: dict[str, Any], props: Any, path: str, errors: list[str]) -> None:
    if "required" not in schema:
        return
    required = schema["required"]
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        errors.append(f"{path}.required: must be a list of property names")
        return
    known = props if isinstance(props, dict) else {}
    unknown = [r for r in required if r not in known]
    if unknown:
        errors.append(f"{path}.required: names unknown properties {', '.join(unknown)}")
