"""Embedded auth adapters: one process, so a revocation is a function call."""

from __future__ import annotations

from collections.abc import Callable


class MemoryRevocationBus:
    live = True

    def __init__(self) -> None:
        self._listeners: list[Callable[[str], None]] = []

    async def start(self, on_revoked: Callable[[str], None]) -> None:
        self._listeners.append(on_revoked)

    async def publish(self, key_id: str) -> None:
        for listener in self._listeners:
            listener(key_id)

    async def close(self) -> None:
        self._listeners.clear()


class MemoryKeyUsageStore:
    def __init__(self) -> None:
        self._uses: dict[str, tuple[int, float]] = {}

    async def add(self, uses: dict[str, tuple[int, float]]) -> None:
        for key_id, (count, last) in uses.items():
            old_count, old_last = self._uses.get(key_id, (0, 0.0))
            self._uses[key_id] = (old_count + count, max(old_last, last))

    async def read(self, key_ids: list[str]) -> dict[str, tuple[int, float | None]]:
        out: dict[str, tuple[int, float | None]] = {}
        for key_id in key_ids:
            count, last = self._uses.get(key_id, (0, 0.0))
            out[key_id] = (count, last or None)
        return out
