"""Free-form JSON from clients, bounded where it enters: nesting depth and lone surrogates.

A dict or list nested deeper than MAX_DEPTH, or a string holding a lone UTF-16 surrogate
("\\ud800", which JSON allows and Python decodes), validates as `dict[str, Any]` / `str`
but cannot be serialised later (pydantic stops at 255 levels, orjson and UTF-8 refuse the
surrogate), so the request would answer 500 or the job crash. Request models inherit
`Bounded` and such input is a 422 naming the field instead.
"""

from __future__ import annotations

from itertools import repeat
from typing import Any

from pydantic import BaseModel, ValidationInfo, field_validator

# JSON Schema documents and metadata seen in practice stay under 20 levels; 64 leaves room
# and stays far below pydantic's serialisation limit (255) and the parser's recursion limit.
MAX_DEPTH = 64


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


# Values that hold nothing to check: most fields of a request are None or scalars, and this
# runs on every field of every request model (~4% of a proxied call before this shortcut).
_SCALARS = frozenset({type(None), bool, int, float})


def check_json(value: Any) -> None:
    """Raise ValueError when `value` nests deeper than MAX_DEPTH or holds a lone surrogate."""
    kind = type(value)
    if kind in _SCALARS or ((kind is dict or kind is list) and not value):
        return  # nothing inside, and depth 0 is within MAX_DEPTH
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        # Exact types first: isinstance against a pydantic model class goes through its
        # metaclass (~0.3 us), and a worker validates every job's payload again from the
        # store, so ChatJobPayload took 10.2 us, 6.6 of them here, before this order.
        if kind is str or (kind not in _SCALARS and kind is not dict and kind is not list
                           and isinstance(item, str)):
            # ASCII text cannot hold a surrogate; isascii is a flag check, encode a copy.
            if not item.isascii() and _has_lone_surrogate(item):
                raise ValueError("contains a lone UTF-16 surrogate, which is not valid Unicode text")
            continue
        if kind is dict:
            children: list[Any] = [*item.keys(), *item.values()]
        elif kind is list:
            children = item
        elif kind in _SCALARS or isinstance(item, Bounded):
            # A Bounded model was checked field by field when it was validated: walking it
            # again from every enclosing model was ~2% of a proxied call.
            continue
        else:
            if isinstance(item, BaseModel):
                item = item.__dict__
            if isinstance(item, dict):
                children = [*item.keys(), *item.values()]
            elif isinstance(item, list | tuple):
                children = list(item)
            else:
                continue
        if depth >= MAX_DEPTH:
            raise ValueError(f"is nested more than {MAX_DEPTH} levels deep")
        stack.extend(zip(children, repeat(depth + 1, len(children)), strict=True))


# Validation context for a payload read back from the job store: it passed `check_json`
# when it was submitted, and the store holds it as JSON, which cannot carry a lone surrogate
# (orjson refuses to write one). Walking it again was ~10% of a worker's CPU a job start
# (181-193 -> 163-174 us in an in-process harness of 6,000 starts).
STORED: dict[str, Any] = {"bounded": "checked at submit"}


class Bounded(BaseModel):
    """A request model whose every field passes `check_json` (unless validated with the
    STORED context)."""

    @field_validator("*", mode="after")
    @classmethod
    def _bounded(cls, value: Any, info: ValidationInfo) -> Any:
        if info.context is not STORED:
            check_json(value)
        return value
