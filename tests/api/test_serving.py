"""The API's HTTP protocol: what is written in one event-loop turn reaches the socket as one
write, a close sends what is held first, and over a real socket every response is whole."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from api.serving import TurnWriter
from tests.serving import serve


class Recording(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: Any) -> None:
        self.sent.append(bytes(data))

    def writelines(self, chunks: Any) -> None:
        self.sent.append(b"".join(chunks))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default


async def test_writes_in_one_turn_go_out_as_one() -> None:
    raw = Recording()
    writer = TurnWriter(raw, asyncio.get_running_loop())
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    writer.write(b"ok")
    assert raw.sent == []  # held until the turn ends
    await asyncio.sleep(0)
    assert raw.sent == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]
    writer.write(b"next turn")
    await asyncio.sleep(0)
    assert raw.sent[1:] == [b"next turn"]
    assert writer.get_extra_info("peername") == ("127.0.0.1", 1)  # the rest is the transport's


async def test_a_close_sends_what_is_held_and_an_abort_drops_it() -> None:
    raw = Recording()
    writer = TurnWriter(raw, asyncio.get_running_loop())
    writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    writer.close()
    assert raw.sent == [b"HTTP/1.1 400 Bad Request\r\n\r\n"] and raw.closed
    await asyncio.sleep(0)  # the scheduled flush finds nothing left
    assert len(raw.sent) == 1

    raw = Recording()
    writer = TurnWriter(raw, asyncio.get_running_loop())
    writer.write(b"partial")
    writer.abort()
    await asyncio.sleep(0)
    assert raw.sent == [] and raw.aborted


async def test_whole_responses_and_a_stream_over_a_real_socket() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for i in range(3):
                await send({"type": "http.response.body", "body": f"chunk {i}\n".encode(), "more_body": True})
                await asyncio.sleep(0.01)
            await send({"type": "http.response.body", "body": b""})
            return
        body = scope["path"].encode() * 1000
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async with serve(app) as base, httpx.AsyncClient(base_url=base) as client:
        answers = await asyncio.gather(*(client.get(f"/r{i}") for i in range(20)))
        assert [a.content for a in answers] == [f"/r{i}".encode() * 1000 for i in range(20)]
        async with client.stream("GET", "/stream") as streamed:
            lines = [line async for line in streamed.aiter_lines()]
        assert lines == ["chunk 0", "chunk 1", "chunk 2"]
