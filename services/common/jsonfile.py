"""Saving an embedded store's JSON file so that a crash mid-write never leaves half a file:
write a sibling temporary file, then rename it over the old one (atomic on POSIX)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson


def save_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(data))
    tmp.replace(path)


class CoalescedSave:
    """Writes `snapshot()` to `path` at most once per `delay_s`, and at `flush()`.

    An embedded store that rewrote its whole file on every change did O(size) work per
    write: a chatbot turn appends two messages, so 400 turns took 5 s of JSON alone. Saving
    is coalesced instead; a crash of the development process loses at most `delay_s` of
    changes (the production stores are MongoDB's)."""

    def __init__(self, path: Path, snapshot: Callable[[], Any], *, delay_s: float = 0.25) -> None:
        self._path, self._snapshot, self._delay_s = path, snapshot, delay_s
        self._pending: asyncio.TimerHandle | None = None

    def request(self) -> None:
        if self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(self._delay_s, self.flush)

    def flush(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
            save_json(self._path, self._snapshot())
