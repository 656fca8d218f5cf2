"""A bounded in-process LRU with a per-entry expiry, in front of Redis."""

from __future__ import annotations

import time
from collections import OrderedDict


class LruCache:
    def __init__(self, max_entries: int, max_entry_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_entry_bytes = max_entry_bytes
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def get(self, key: str) -> bytes | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires <= time.monotonic():
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return value

    def set(self, key: str, value: bytes, ttl_s: float) -> None:
        if self.max_entries <= 0 or len(value) > self.max_entry_bytes or ttl_s <= 0:
            return
        self._data[key] = (time.monotonic() + ttl_s, value)
        self._data.move_to_end(key)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)
