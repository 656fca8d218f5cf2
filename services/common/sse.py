"""Server-Sent Events framing (https://html.spec.whatwg.org/multipage/server-sent-events.html)."""

from __future__ import annotations

from typing import Any

import orjson

# A comment line: keeps proxies (which drop idle connections after ~30-60 s) from closing.
HEARTBEAT = b": keep-alive\n\n"


def sse(event: str, data: Any, *, event_id: str | None = None) -> bytes:
    """One event; `data` is sent as one line of JSON (orjson never emits a newline)."""
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\n".encode() + b"data: " + orjson.dumps(data) + b"\n\n"


def event_id_of(frame: bytes) -> str | None:
    """The id of an event framed by `sse` (None for a comment or an event without one)."""
    if not frame.startswith(b"id: "):
        return None
    return frame[4:frame.index(b"\n")].decode()
