"""A minimal OpenAI-compatible upstream for gateway benchmarks: as little work per request as
Python allows (uvloop + httptools, one canned answer), so the gateway in front of it is what
a benchmark measures.

    PYTHONPATH=. .venv/bin/python -m bench.upstream --port 9300

(A package, not bench/upstream.py: `make bench` runs every bench/*.py, and this one serves
until stopped.)

POST <anything>/chat/completions answers a chat.completion; with "stream": true, SSE in
OpenAI's chunk format (role, two content chunks, finish, usage when asked, [DONE]).
GET <anything>/models lists one model; GET /_stats counts the chat requests served (a benchmark
checks with it that a cache really answered). Every other request: 404.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import httptools
import uvloop

ANSWER = "Hello from the upstream."


def _completion(model: str) -> bytes:
    return json.dumps({
        "id": "chatcmpl-upstream", "object": "chat.completion", "created": int(time.time()),
        "model": model, "system_fingerprint": None,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER, "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14},
    }, separators=(",", ":")).encode()


def _stream(model: str, usage: bool) -> bytes:
    created = int(time.time())

    def chunk(delta: dict[str, object], finish: str | None, **extra: object) -> bytes:
        body = {"id": "chatcmpl-upstream", "object": "chat.completion.chunk", "created": created,
                "model": model, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                             "finish_reason": finish}], **extra}
        return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"

    parts = [chunk({"role": "assistant", "content": ""}, None),
             chunk({"content": "Hello from "}, None),
             chunk({"content": "the upstream."}, None),
             chunk({}, "stop")]
    if usage:
        parts.append(b"data: " + json.dumps({
            "id": "chatcmpl-upstream", "object": "chat.completion.chunk", "created": created,
            "model": model, "choices": [],
            "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}},
            separators=(",", ":")).encode() + b"\n\n")
    parts.append(b"data: [DONE]\n\n")
    return b"".join(parts)


MODELS = json.dumps({"object": "list", "data": [
    {"id": "gpt-4o-mini", "object": "model", "created": 0, "owned_by": "upstream"}]}).encode()


SERVED = {"chat": 0}


class Http(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    def on_message_begin(self) -> None:
        self.url, self.body = b"", []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        assert self.transport is not None
        path = self.url.split(b"?", 1)[0]
        ctype = b"application/json"
        if path.endswith(b"/chat/completions") and self.parser.get_method() == b"POST":
            SERVED["chat"] += 1
            request = json.loads(b"".join(self.body) or b"{}")
            model = str(request.get("model", "gpt-4o-mini"))
            if request.get("stream"):
                usage = bool((request.get("stream_options") or {}).get("include_usage"))
                status, body, ctype = b"200 OK", _stream(model, usage), b"text/event-stream"
            else:
                status, body = b"200 OK", _completion(model)
        elif path == b"/_stats":
            status, body = b"200 OK", json.dumps(SERVED).encode()
        elif path.endswith(b"/models"):
            status, body = b"200 OK", MODELS
        else:
            status, body = b"404 Not Found", b'{"error":{"message":"not found"}}'
        keep = self.parser.should_keep_alive()
        self.transport.write(b"HTTP/1.1 " + status + b"\r\ncontent-type: " + ctype
                             + b"\r\ncontent-length: " + str(len(body)).encode()
                             + (b"\r\n\r\n" if keep else b"\r\nconnection: close\r\n\r\n") + body)
        if not keep:
            self.transport.close()


async def serve(host: str, port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Http, host, port, backlog=2048)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9300)
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
