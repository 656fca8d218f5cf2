"""HTTP routes of the simulator's batch APIs (state and behaviour: batches.py).

OpenAI: `POST /openai/v1/files` (multipart, as `client.files.create` sends it),
`GET /openai/v1/files/{id}` and `.../content`, `POST/GET /openai/v1/batches`,
`GET /openai/v1/batches/{id}`, `POST .../cancel`. Anthropic: `POST/GET
/anthropic/v1/messages/batches`, `GET .../{id}`, `GET .../{id}/results` (JSONL),
`POST .../{id}/cancel`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from services.providers.simulator.batches import ANTHROPIC_PREFIX, OPENAI_PREFIX, SimBatches

Respond = Callable[..., Awaitable[None]]


def handles(path: str) -> bool:
    return path.startswith((OPENAI_PREFIX + "files", OPENAI_PREFIX + "batches", ANTHROPIC_PREFIX))


def _multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    found = re.search(r'boundary="?([^";]+)"?', content_type)
    parts: dict[str, tuple[str | None, bytes]] = {}
    if found is None:
        return parts
    for chunk in body.split(b"--" + found.group(1).encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.strip(b"\r\n").partition(b"\r\n\r\n")
        text = head.decode("utf-8", "replace")
        name, filename = re.search(r'name="([^"]*)"', text), re.search(r'filename="([^"]*)"', text)
        if name:
            parts[name.group(1)] = (filename.group(1) if filename else None, data)
    return parts


def _not_found(what: str) -> bytes:
    return orjson.dumps({"error": {"message": f"{what} not found", "type": "not_found_error"}})


async def route(batches: SimBatches, method: str, path: str, headers: dict[str, str], body: bytes,
                respond: Respond) -> None:
    parts = path.split("/")
    if path.startswith(ANTHROPIC_PREFIX):
        await _anthropic(batches, method, parts[5:], headers, body, respond)
    elif parts[3] == "files":
        await _files(batches, method, parts[4:], headers, body, respond)
    else:
        await _openai_batches(batches, method, parts[4:], body, respond)


async def _files(batches: SimBatches, method: str, rest: list[str], headers: dict[str, str], body: bytes,
                 respond: Respond) -> None:
    if method == "POST" and not rest:
        form = _multipart(headers.get("content-type", ""), body)
        if "file" not in form:
            await respond(400, b'{"error": {"message": "no file part"}}')
            return
        filename, content = form["file"]
        purpose = form.get("purpose", (None, b"batch"))[1].decode()
        await respond(200, orjson.dumps(batches.upload(content, filename or "batch.jsonl", purpose)))
        return
    file_id = rest[0] if rest else ""
    if file_id not in batches.files:
        await respond(404, _not_found(f"file {file_id}"))
    elif len(rest) == 2 and rest[1] == "content":
        await respond(200, batches.files[file_id], content_type=b"application/jsonl")
    else:
        await respond(200, orjson.dumps(batches._file(file_id)))


async def _openai_batches(batches: SimBatches, method: str, rest: list[str], body: bytes, respond: Respond) -> None:
    if not rest:
        if method == "POST":
            created = batches.openai_create(orjson.loads(body or b"{}"))
            await respond(*((200, orjson.dumps(created)) if created else (400, _not_found("input file"))))
        else:
            data = [batches.openai_batch(b) for b in batches.batches.values() if b.provider == "openai"]
            await respond(200, orjson.dumps({"object": "list", "data": data, "has_more": False}))
        return
    found = batches.batches.get(rest[0])
    if found is None or found.provider != "openai":
        await respond(404, _not_found(f"batch {rest[0]}"))
        return
    if method == "POST" and rest[1:] == ["cancel"]:
        batches.cancel(found)
    await respond(200, orjson.dumps(batches.openai_batch(found)))


async def _anthropic(batches: SimBatches, method: str, rest: list[str], headers: dict[str, str], body: bytes,
                     respond: Respond) -> None:
    root = f"http://{headers.get('host', '127.0.0.1')}"
    if not rest:
        if method == "POST":
            await respond(200, orjson.dumps(batches.anthropic_create(orjson.loads(body or b"{}"))))
        else:
            data = [batches.anthropic_batch(b, root) for b in batches.batches.values() if b.provider == "anthropic"]
            await respond(200, orjson.dumps({"data": data, "has_more": False, "first_id": None, "last_id": None}))
        return
    found = batches.batches.get(rest[0])
    if found is None or found.provider != "anthropic":
        await respond(404, _not_found(f"message batch {rest[0]}"))
        return
    if rest[1:] == ["results"]:
        view = batches.anthropic_batch(found, root)
        if view["processing_status"] != "ended":
            await respond(400, b'{"type": "error", "error": {"type": "invalid_request_error", '
                               b'"message": "the batch is still processing"}}')
            return
        await respond(200, b"".join(orjson.dumps(r) + b"\n" for r in found.results),
                      content_type=b"application/binary")
        return
    if method == "POST" and rest[1:] == ["cancel"]:
        batches.cancel(found)
    await respond(200, orjson.dumps(batches.anthropic_batch(found, root)))


def control(batches: SimBatches, method: str, raw: bytes) -> Any:
    """`POST /_sim/batches {"complete_after_s"}` sets the delay; GET lists the batches."""
    if method == "POST":
        batches.configure(orjson.loads(raw) if raw else {})
        return {"ok": True}
    return batches.stats()
