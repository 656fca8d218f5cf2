"""Saving an embedded store's JSON file so that a crash mid-write never leaves half a file:
write a sibling temporary file, then rename it over the old one (atomic on POSIX)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson


def save_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(data))
    tmp.replace(path)
