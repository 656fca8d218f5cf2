"""A provider credential never appears in a job record, a queue message, a log line or an
API response, on the queued path through RabbitMQ and on the inline and streaming paths.

The org's key is a recognisable string; the test proves the provider really received it
(so the key was in play), then searches everything the platform wrote or said.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import orjson
import pytest

from api.app import create_app
from services.broker.base import OutgoingMessage
from services.common.logging import JsonFormatter
from services.context import Context
from services.jobs.model import JobStatus
from services.providers.simulator.app import Simulator
from tests.backends import BACKENDS, context
from tests.chat_support import chat_settings
from tests.serving import serve
from workers.process import start_runner

SECRET = "sk-proj-LEAKCANARY-9f8e7d6c5b4a3210"
# Fragments that would betray a partial leak (the masked hint `sk-...3210` is allowed).
FRAGMENTS = [SECRET, "LEAKCANARY", "9f8e7d6c5b4a"]
RUN = "/api/v2/model/chat/completion"


class Recorder:
    """The provider simulator, noting the credential each request carried."""

    def __init__(self) -> None:
        self.sim = Simulator()
        self.auth: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            self.auth.append((headers.get(b"authorization") or b"").decode())
        await self.sim(scope, receive, send)


class Everything(logging.Handler):
    """Every log line of every logger, formatted as production formats it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def spy_on_broker(ctx: Context) -> list[str]:
    seen: list[str] = []
    publish, publish_many, publish_each = ctx.broker.publish, ctx.broker.publish_many, ctx.broker.publish_each

    def note(queue: str, message: OutgoingMessage) -> None:
        seen.append(f"{queue} {message.message_id} {message.headers} {message.body.decode()}")

    async def spied(queue: str, message: OutgoingMessage, *, delay_s: float = 0) -> None:
        note(queue, message)
        await publish(queue, message, delay_s=delay_s)

    async def spied_many(queue: str, messages: Any) -> None:
        for message in messages:
            note(queue, message)
        await publish_many(queue, messages)

    async def spied_each(queue: str, messages: Any) -> Any:
        for message in messages:
            note(queue, message)
        return await publish_each(queue, messages)

    ctx.broker.publish = spied  # type: ignore[method-assign]
    ctx.broker.publish_many = spied_many  # type: ignore[method-assign]
    ctx.broker.publish_each = spied_each  # type: ignore[method-assign]
    return seen


async def read_rabbit_queue(ctx: Context, queue: str) -> list[str]:
    """Read the messages waiting in a real queue without consuming them: they are held
    unacked, then returned to the queue when the channel closes."""
    assert ctx.settings.rabbit.url
    connection = await aio_pika.connect(ctx.settings.rabbit.url)
    try:
        channel = await connection.channel()
        declared = await channel.get_queue(ctx.settings.rabbit.queue_prefix + queue, ensure=True)
        out = []
        while (message := await declared.get(no_ack=False, fail=False)) is not None:
            out.append(f"{message.message_id} {message.headers} {message.body.decode()}")
        await channel.close()
    finally:
        await connection.close()
    return out


async def redis_dump(ctx: Context) -> list[str]:
    """Every value under the test's key prefix: job hashes, streams, caches, webhooks."""
    assert ctx.redis is not None
    out = []
    async for key in ctx.redis.scan_iter(match=f"{ctx.settings.redis.key_prefix}*", count=500):
        kind = (await ctx.redis.type(key)).decode()
        if kind == "hash":
            value: Any = await ctx.redis.hgetall(key)
        elif kind == "string":
            value = await ctx.redis.get(key)
        elif kind == "stream":
            value = await ctx.redis.xrange(key)
        elif kind == "list":
            value = await ctx.redis.lrange(key, 0, -1)
        elif kind == "zset":
            value = await ctx.redis.zrange(key, 0, -1)
        else:
            value = await ctx.redis.smembers(key) if kind == "set" else b""
        out.append(f"{key!r} {value!r}")
    return out


def leaks(texts: list[str]) -> list[str]:
    return [t[:300] for t in texts if any(f in t for f in FRAGMENTS)]


@pytest.fixture(params=BACKENDS)
async def setup(
    request: pytest.FixtureRequest, unique: str, tmp_path: Path,
) -> AsyncIterator[tuple[Context, httpx.AsyncClient, Recorder, list[str], dict[str, str]]]:
    recorder = Recorder()
    async with serve(recorder) as sim_url:
        settings = chat_settings(request.param, unique, tmp_path, sim_url=sim_url,
                                 cache={"enabled": False})
        async with context(settings) as ctx:
            await ctx.broker.declare(["jobs.model", "jobs.chatbot"])
            responses: list[str] = []

            async def keep(response: httpx.Response) -> None:
                await response.aread()
                responses.append(f"{response.status_code} {dict(response.headers)} {response.text}")

            app = create_app(settings, ctx=ctx)
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=30,
                event_hooks={"response": [keep]},
            ) as client:
                headers = {"Authorization": f"Bearer {(await ctx.keys.create('org-a'))[0]}"}
                yield ctx, client, recorder, responses, headers
            if ctx.redis is not None:
                keys = [k async for k in ctx.redis.scan_iter(match=f"t{unique}:*", count=500)]
                if keys:
                    await ctx.redis.delete(*keys)


async def test_a_credential_is_used_but_never_written_said_or_queued(
    setup: tuple[Context, httpx.AsyncClient, Recorder, list[str], dict[str, str]],
) -> None:
    ctx, client, recorder, responses, org = setup
    capture = Everything()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        queued = spy_on_broker(ctx)
        saved = await client.post("/api/v1/config/apikeys", headers=org,
                                  json={"service": "openai", "api_key": SECRET})
        assert saved.status_code == 201 and saved.json()["masked_key"] == "sk-...3210"
        for name, model in (("ok", "gpt-4o-mini"), ("refused", "sim-fail-401")):
            created = await client.post("/api/v1/config/bridges", headers=org, json={
                "name": name, "provider": "openai", "model": model,
                "response_format": {"type": "async"}})
            assert created.status_code == 201, created.text

        # Queued: submitted with no worker running, read off the queue, then run.
        job_ids = []
        for slug in ("ok", "ok", "refused"):
            response = await client.post(RUN, headers=org, json={"slug": slug, "user": "hi"})
            assert response.status_code == 202, response.text
            job_ids.append(response.json()["id"])
        if ctx.settings.rabbit.url:
            on_queue = await read_rabbit_queue(ctx, "jobs.model")
            assert len(on_queue) == 3
            queued += on_queue
        stop = (await start_runner(ctx, ["model"])).stop
        try:
            jobs = [await ctx.jobs.wait(j, 20) for j in job_ids]
        finally:
            await stop()
        statuses = [j.status if j else None for j in jobs]
        assert statuses == [JobStatus.SUCCEEDED, JobStatus.SUCCEEDED, JobStatus.FAILED]
        for job_id in job_ids:
            await client.get(f"/api/v1/jobs/{job_id}", headers=org)
        await client.get("/api/v1/jobs", headers=org)

        # Inline, streamed (OpenAI-compatible) and the configuration reads.
        inline = await client.post(RUN, headers=org, json={
            "slug": "ok", "user": "inline", "response_format": {"type": "default"}})
        assert inline.status_code == 200, inline.text
        job_ids.append(inline.json()["id"])
        stream = await client.post("/v1/chat/completions", headers=org, json={
            "model": "openai/gpt-4o-mini", "stream": True,
            "messages": [{"role": "user", "content": "stream"}]})
        assert stream.status_code == 200 and "data: [DONE]" in stream.text
        for path in ("/api/v1/config/apikeys", f"/api/v1/config/apikeys/{saved.json()['id']}",
                     "/api/v1/config/bridges", "/v1/models"):
            assert (await client.get(path, headers=org)).status_code == 200
    finally:
        root.removeHandler(capture)
        root.setLevel(old_level)

    # The key really was in play: the provider received it on every call.
    assert recorder.auth and set(recorder.auth) == {f"Bearer {SECRET}"}
    assert len(recorder.auth) >= 5
    assert queued and capture.lines and len(responses) >= 12

    records = [j.model_dump_json() for j in [await ctx.jobs.get(i) for i in job_ids] if j]
    assert len(records) == len(job_ids)
    assert "auth" in records[2].lower() or "401" in records[2]  # the refusal is recorded...
    assert leaks(records) == []  # ...without the key
    assert leaks(queued) == []
    assert leaks(capture.lines) == []
    assert leaks(responses) == []
    if ctx.redis is not None:
        assert leaks(await redis_dump(ctx)) == []
    stored = Path(ctx.settings.app.data_dir) / "config.json"
    raw = orjson.loads(stored.read_bytes()) if stored.exists() else {}
    assert leaks([orjson.dumps(raw).decode()]) == []
