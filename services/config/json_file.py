"""The embedded stores' data, saved to one JSON file (`.data/config.json` by default).

The memory stores of every domain share one `JsonFile`: each owns its collections (a key
of the file holding a list of records) and rewrites only those, so `python index.py keys
create` and a later `python index.py` see the same keys, bridges and credentials. Writes
replace the file atomically (write a temporary file, then rename).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

Records = list[dict[str, Any]]


class JsonFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: dict[str, Records] | None = None

    def load(self) -> None:
        """Read the file once per process (a missing file is an empty one)."""
        if self._data is None:
            self._data = orjson.loads(self.path.read_bytes()) if self.path.exists() else {}

    def read(self, collection: str) -> Records:
        self.load()
        assert self._data is not None
        return list(self._data.get(collection, []))

    def write(self, collections: dict[str, Records]) -> None:
        """Replace these collections and save; the other collections are kept as they are."""
        self.load()
        assert self._data is not None
        self._data.update(collections)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(self._data, option=orjson.OPT_INDENT_2))
        tmp.replace(self.path)
