"""Metadata filters: `{field: value}` for equality, `{field: {"in": [values]}}` for any-of.

Validated once here (a bad filter is a 422 naming `filters.<field>`), then each adapter
applies the same normalized form: field -> list of accepted values.
"""

from __future__ import annotations

import re
from typing import Any

from services.errors import Invalid

_FIELD = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_SCALAR = (str, int, float, bool)


def normalize(filters: dict[str, Any] | None) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for name, cond in (filters or {}).items():
        if not _FIELD.match(name):
            raise Invalid("field names are 1-64 letters, digits, '_', '.' or '-'", field=f"filters.{name}")
        if isinstance(cond, dict):
            if set(cond) != {"in"} or not isinstance(cond["in"], list) or not cond["in"]:
                raise Invalid('use a value or {"in": [values]}', field=f"filters.{name}")
            values = cond["in"]
        else:
            values = [cond]
        if not all(isinstance(v, _SCALAR) or v is None for v in values) or len(values) > 100:
            raise Invalid("values must be up to 100 strings, numbers, booleans or null",
                          field=f"filters.{name}")
        out[name] = values
    return out


def matches(metadata: dict[str, Any], document_id: str, normalized: dict[str, list[Any]]) -> bool:
    for name, values in normalized.items():
        value = document_id if name == "document_id" else metadata.get(name)
        if value not in values:
            return False
    return True
