"""The embedded stores' data, saved to one JSON file (`.data/config.json` by default).

The memory stores of every domain share one `JsonFile`: each owns its collections (a key
of the file holding a list of records) and rewrites only those, so `python index.py keys
create` and a later `python index.py` see the same keys, bridges and credentials. Writes
replace the file atomically (write a temporary file, then rename).

Another process may write the file while this one runs (`keys create` next to `make run`):
`sync` re-reads it when it changed on disk and bumps `generation`, so a store holding
records in memory knows to reload them before it answers a miss or rewrites its collection.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

Records = list[dict[str, Any]]


class JsonFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: dict[str, Records] | None = None
        self._stamp: tuple[int, int, int] | None = None
        # Incremented each time the file is (re)read from disk.
        self.generation = 0

    def _disk_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def load(self) -> None:
        """Read the file once per process (a missing file is an empty one)."""
        if self._data is None:
            self._read()

    def _read(self) -> None:
        self._stamp = self._disk_stamp()
        self._data = orjson.loads(self.path.read_bytes()) if self._stamp is not None else {}
        self.generation += 1

    def sync(self) -> None:
        """Re-read the file when another process changed it since this one last did."""
        if self._data is None or self._disk_stamp() != self._stamp:
            self._read()

    def read(self, collection: str) -> Records:
        self.load()
        assert self._data is not None
        return list(self._data.get(collection, []))

    def write(self, collections: dict[str, Records]) -> None:
        """Replace these collections and save; the other collections are kept as they are
        on disk (another process may have written them)."""
        self.sync()
        assert self._data is not None
        self._data.update(collections)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(orjson.dumps(self._data, option=orjson.OPT_INDENT_2))
        tmp.replace(self.path)
        self._stamp = self._disk_stamp()
