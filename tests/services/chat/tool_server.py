"""A real HTTP tool endpoint on 127.0.0.1 for tool-loop tests (uvicorn, in the test's loop)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn


@dataclass
class ToolServer:
    url: str
    # (method, path, query string, JSON body or None, headers) per request received.
    received: list[tuple[str, str, str, Any, dict[str, str]]] = field(default_factory=list)

    def hits(self, path: str) -> int:
        return sum(1 for r in self.received if r[1] == path)


def _app(server: ToolServer) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        path = scope["path"]
        server.received.append((scope["method"], path, scope["query_string"].decode(),
                                orjson.loads(body) if body else None, headers))
        status, reply = 200, b""
        if path == "/weather":
            args = orjson.loads(body) if body else {}
            reply = orjson.dumps({"temp_c": 21, "city": args.get("city")})
        elif path == "/slow":
            await asyncio.sleep(5)
        elif path == "/fail":
            status, reply = 500, b"tool exploded"
        else:
            reply = b"ok"
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": reply})

    return app


@asynccontextmanager
async def tool_server() -> AsyncIterator[ToolServer]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = ToolServer(url=f"http://127.0.0.1:{sock.getsockname()[1]}")
    uv = uvicorn.Server(uvicorn.Config(_app(server), lifespan="off", log_level="warning"))
    uv.install_signal_handlers = lambda: None  # type: ignore[attr-defined]
    task = asyncio.create_task(uv.serve(sockets=[sock]))
    while not uv.started:
        await asyncio.sleep(0.01)
    try:
        yield server
    finally:
        uv.should_exit = True
        uv.force_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()
