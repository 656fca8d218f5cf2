"""Running bridges through POST /api/v2/model/chat/completion: inline, async and webhook
delivery, versions recorded on every job, and the bad-input answers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from services.jobs.model import JobStatus
from tests.platform import Platform, platform
from tests.webhook_support import Receiver, webhook_platform

RUN = "/api/v2/model/chat/completion"
BRIDGES = "/api/v1/config/bridges"


@pytest.fixture
async def p(unique: str, tmp_path: Path) -> Any:
    async with platform("embedded", unique, tmp_path) as running:
        yield running


async def make_bridge(p: Any, headers: dict[str, str] | None = None, **kw: Any) -> dict[str, Any]:
    body = {"name": "Helper", "model": "mock-0ms",
            "system_prompt": "Help {{customer}} in a {{tone}} tone.",
            "variables": [{"name": "customer", "required": True},
                          {"name": "tone", "default": "calm"}], **kw}
    response = await p.client.post(BRIDGES, json=body, headers=headers or p.org_a)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_default_delivery_answers_inline_with_the_version(p: Platform) -> None:
    bridge = await make_bridge(p)
    response = await p.client.post(RUN, headers=p.org_a, json={
        "slug": "helper", "user": "hello there", "variables": {"customer": "Ada"}})
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "succeeded" and job["result"]["content"] == "echo: hello there"
    assert job["meta"]["bridge_version"] == 1 and job["meta"]["bridge_id"] == bridge["id"]
    stored = await p.ctx.jobs.get(job["id"])
    assert stored is not None and stored.request["system"] == "Help Ada in a calm tone."
    by_id = await p.client.post(RUN, headers=p.org_a, json={
        "bridge_id": bridge["id"], "user": "again", "variables": {"customer": "Bo"}})
    assert by_id.status_code == 200 and by_id.json()["result"]["content"] == "echo: again"


async def test_async_delivery_queues_a_job(p: Platform) -> None:
    await make_bridge(p, response_format={"type": "async"})
    response = await p.client.post(RUN, headers=p.org_a, json={
        "slug": "helper", "messages": [{"role": "user", "content": "queued"}],
        "variables": {"customer": "Ada"}})
    assert response.status_code == 202, response.text
    job = await p.poll(response.json()["id"])
    assert job["status"] == "succeeded" and job["result"]["content"] == "echo: queued"
    assert job["meta"]["bridge_version"] == 1 and job["kind"] == "model"


async def test_a_thread_that_does_not_exist_is_not_found(p: Platform) -> None:
    await make_bridge(p, response_format={"type": "async"})
    response = await p.client.post(RUN, headers=p.org_a, json={
        "slug": "helper", "user": "hi", "variables": {"customer": "Ada"}, "thread_id": "t-1"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "thread_not_found"


async def test_a_request_may_override_the_delivery(p: Platform) -> None:
    await make_bridge(p)
    response = await p.client.post(RUN, headers=p.org_a, json={
        "slug": "helper", "user": "x", "variables": {"customer": "A"},
        "response_format": {"type": "async"}})
    assert response.status_code == 202


async def test_bad_input_answers(p: Platform) -> None:
    bridge = await make_bridge(p)
    c, a = p.client, p.org_a
    missing = await c.post(RUN, headers=a, json={"slug": "helper", "user": "x"})
    assert missing.status_code == 422
    assert missing.json()["error"]["missing"] == ["customer"]
    assert "customer" in missing.json()["error"]["message"]
    assert (await c.post(RUN, headers=a, json={"slug": "nope", "user": "x"})).status_code == 404
    theirs = await c.post(RUN, headers=p.org_b, json={
        "bridge_id": bridge["id"], "user": "x", "variables": {"customer": "A"}})
    assert theirs.status_code == 404
    assert (await c.post(RUN, headers=p.org_b, json={
        "slug": "helper", "user": "x", "variables": {"customer": "A"}})).status_code == 404
    await c.patch(f"{BRIDGES}/{bridge['id']}", headers=a,
                  json={"status": "paused", "pause_reason": "monthly budget reached"})
    paused = await c.post(RUN, headers=a, json={
        "slug": "helper", "user": "x", "variables": {"customer": "A"}})
    assert paused.status_code == 409
    assert "monthly budget reached" in paused.json()["error"]["message"]
    assert paused.json()["error"]["reason"] == "monthly budget reached"
    both = await c.post(RUN, headers=a, json={"slug": "helper", "bridge_id": bridge["id"],
                                              "user": "x"})
    assert both.status_code == 422


async def test_jobs_keep_the_version_they_were_submitted_with(p: Platform) -> None:
    # Version 1 answers slowly, so its jobs are still running while version 2 is published.
    bridge = await make_bridge(p, model="mock-400ms", response_format={"type": "async"})
    body = {"slug": "helper", "user": "hi", "variables": {"customer": "A"}}
    before = [(await p.client.post(RUN, headers=p.org_a, json=body)).json()["id"]
              for _ in range(3)]
    for _ in range(200):
        states = [(await p.ctx.jobs.get(j)).status for j in before]  # type: ignore[union-attr]
        if JobStatus.RUNNING in states:
            break
        await asyncio.sleep(0.01)
    assert JobStatus.RUNNING in states  # the publish below really lands mid-run
    await p.client.patch(f"{BRIDGES}/{bridge['id']}", headers=p.org_a, json={"model": "mock-0ms"})
    published = await p.client.post(f"{BRIDGES}/{bridge['id']}/publish", headers=p.org_a)
    assert published.json()["version"] == 2
    after = [(await p.client.post(RUN, headers=p.org_a, json=body)).json()["id"]
             for _ in range(3)]
    old = [await p.poll(j) for j in before]
    new = [await p.poll(j) for j in after]
    assert {(j["meta"]["bridge_version"], j["result"]["model"]) for j in old} == {(1, "mock-400ms")}
    assert {(j["meta"]["bridge_version"], j["result"]["model"]) for j in new} == {(2, "mock-0ms")}


async def test_webhook_delivery_posts_the_result(unique: str, tmp_path: Path) -> None:
    async with Receiver() as receiver, webhook_platform(
        "embedded", unique, tmp_path, pools=("model", "webhooks"),
    ) as wp:
        created = await wp.client.post(BRIDGES, headers=wp.org_a, json={
            "name": "Hooked", "model": "mock-0ms",
            "response_format": {"type": "webhook", "url": receiver.url,
                                "headers": {"X-Team": "support"}}})
        assert created.status_code == 201, created.text
        response = await wp.client.post(RUN, headers=wp.org_a, json={"slug": "hooked",
                                                                     "user": "ping"})
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        received = await receiver.wait_for(1)
        body = orjson.loads(received[0].body)
        assert received[0].headers["x-team"] == "support"
        assert job_id in received[0].body.decode()
        assert "echo: ping" in orjson.dumps(body).decode()


async def test_a_bridge_webhook_with_reserved_headers_is_refused_on_save(p: Platform) -> None:
    response = await p.client.post(BRIDGES, headers=p.org_a, json={
        "name": "Bad hook", "response_format": {"type": "webhook", "url": "https://x.example",
                                                "headers": {"Webhook-Signature": "forged"}}})
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "response_format"
