"""Cursor pages and the time-ordered ids that make them stable in every adapter.

Ids sort in creation order (12 hex digits of milliseconds, 4 of a per-process sequence
that orders ids made in the same millisecond, then 6 random), so a page is
"the next `limit` items after the cursor" in both the memory store and MongoDB, and an item
created or deleted while a client pages never shifts the others.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(slots=True)
class Page(Generic[T]):
    items: list[T]
    # Pass back as `cursor` for the next page; None on the last page.
    next_cursor: str | None


_last = [0, 0]  # (milliseconds, sequence) of the previous id made by this process


def sortable_id(prefix: str) -> str:
    ms = max(int(time.time() * 1000), _last[0])
    seq = _last[1] + 1 if ms == _last[0] else 0
    if seq > 0xFFFF:  # 65,536 ids in one millisecond: borrow the next millisecond
        ms, seq = ms + 1, 0
    _last[0], _last[1] = ms, seq
    return f"{prefix}_{ms:012x}{seq:04x}{secrets.token_hex(3)}"


def page_of(items: list[T], limit: int, key: Callable[[T], object]) -> Page[T]:
    """Cut a list fetched with `limit + 1` rows into a page ending at `key(last)`."""
    if len(items) <= limit:
        return Page(items=items, next_cursor=None)
    items = items[:limit]
    return Page(items=items, next_cursor=str(key(items[-1])))
