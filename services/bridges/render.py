"""`{{variable}}` placeholders in a bridge's system prompt.

Rendering is a single pass: a value that itself contains `{{...}}` is inserted verbatim and
never expanded, so a caller's variable cannot pull in another variable's default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from services.bridges.model import Variable
from services.errors import Invalid

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def placeholders(template: str) -> list[str]:
    """The distinct placeholder names, in order of first appearance."""
    return list(dict.fromkeys(PLACEHOLDER.findall(template)))


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def resolve_values(declared: list[Variable], given: Mapping[str, Any] | None) -> dict[str, str]:
    """The value of each declared variable: given, else its default; Invalid names every
    required variable that has neither."""
    given = given or {}
    values: dict[str, str] = {}
    missing: list[str] = []
    for var in declared:
        if var.name in given and given[var.name] is not None:
            values[var.name] = _text(given[var.name])
        elif var.default is not None:
            values[var.name] = var.default
        elif var.required:
            missing.append(var.name)
        else:
            values[var.name] = ""
    if missing:
        raise Invalid(
            f"missing required variables: {', '.join(missing)}",
            field="variables", code="missing_variables", missing=missing,
        )
    return values


def render(template: str, declared: list[Variable], given: Mapping[str, Any] | None) -> str:
    values = resolve_values(declared, given)
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), template)
