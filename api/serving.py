"""How the API is served: uvicorn's httptools protocol, with one write per event-loop turn.

uvicorn writes a response's status line and headers, then its body, in two
`transport.write` calls made in the same turn of the loop (ASGI sends them as two
messages). Each write is a send(2); on loopback it also runs the receiver's TCP path in
the sender's system call. Profiled, the two writes were ~8% of a proxied call's CPU (5.6%
the head, 2.2% the body: bench/RESULTS.md). `TurnWriter` holds what is written during a
turn and hands it to the socket as one vectored write when the turn ends: nothing waits
on a timer (the flush is the next callback the loop runs) and a close flushes first. A
stream is unaffected: each chunk is written in a turn of its own.

`python index.py` passes `HttpProtocol` to uvicorn; gunicorn uses `Worker`
(gunicorn.conf.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker


class TurnWriter:
    """A transport whose writes made in one event-loop turn reach the socket as one.

    Everything but `write`, `writelines`, `close` and `abort` is the wrapped transport's
    (reading, flow control, `set_protocol` for a WebSocket upgrade, extra info)."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if self._held is None:
            self._held = []
            self._loop.call_soon(self.flush)
        self._held.append(bytes(data))

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        held, self._held = self._held, None
        if not held or self._transport.is_closing():
            return  # nothing held, or the peer is gone and it could not be sent anyway
        if len(held) == 1:
            self._transport.write(held[0])
        else:
            self._transport.writelines(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through a `TurnWriter`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(TurnWriter(transport, self.loop))  # type: ignore[arg-type]


class Worker(UvicornWorker):
    """gunicorn's uvicorn worker on uvloop with `HttpProtocol`."""

    CONFIG_KWARGS = {"loop": "uvloop", "http": HttpProtocol}
