"""Delivery through the real worker pool, to a real receiver on 127.0.0.1, on the embedded
backends and on RabbitMQ + Redis: signing, retries on the schedule, Retry-After, 410,
timeouts, per-endpoint concurrency and idempotent fan-out."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from services.jobs.model import Job, JobKind, JobStatus
from services.webhooks.deliver import EARLY_TOLERANCE_S
from tests.backends import BACKENDS
from tests.webhook_support import SCHEDULE, Received, Receiver, webhook_platform

Reply = tuple[int, dict[str, str], bytes]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def finished_job(status: JobStatus = JobStatus.SUCCEEDED, **request: Any) -> Job:
    return Job(org_id="org-a", kind=JobKind.MODEL, status=status, request=request,
               result={"content": "done"} if status == JobStatus.SUCCEEDED else None,
               finished_at=time.time())


def script(*statuses: int, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """Answer with `statuses` in turn, then 200 for ever."""
    remaining = list(statuses)

    def respond(_: Received) -> Reply:
        status = remaining.pop(0) if remaining else 200
        return status, (headers or {}) if status != 200 else {}, b'{"seen":true}'

    return respond


async def test_job_events_are_signed_for_endpoints_and_request_urls(
    backend: str, unique: str, tmp_path: Path,
) -> None:
    async with Receiver() as rx, Receiver() as per_job, webhook_platform(
            backend, unique, tmp_path) as p:
        endpoint = await p.create_endpoint(rx.url)
        failed_only = await p.create_endpoint(rx.url + "/failed", event_types=["job.failed"])
        rx.secrets = [endpoint["secret"], failed_only["secret"]]
        per_job.secrets = [(await p.client.get("/api/v1/webhooks/secret",
                                               headers=p.org_a)).json()["secret"]]
        job = finished_job(webhook={"url": per_job.url, "headers": {"X-Receiver-Token": "t0k"}})
        await p.ctx.lifecycle.listeners.finished(job)

        (to_endpoint,) = await rx.wait_for(1)
        (to_url,) = await per_job.wait_for(1)
        assert to_endpoint.verified == [endpoint["secret"]]
        assert to_url.verified == per_job.secrets
        assert to_url.headers["x-receiver-token"] == "t0k"
        body = orjson.loads(to_endpoint.body)
        assert (body["type"], body["data"]["job"]["id"]) == ("job.succeeded", job.id)
        assert to_endpoint.headers["webhook-id"] == body["id"] == to_url.headers["webhook-id"]
        assert to_endpoint.body == to_url.body
        # The job.failed-only endpoint got no delivery for a succeeded job.
        listed = await p.deliveries(job_id=job.id)
        assert sorted(d["endpoint_id"] or "url" for d in listed) == sorted([endpoint["id"], "url"])
        assert listed[0]["header_names"] in ([], ["X-Receiver-Token"])
        for item in listed:
            assert (await p.settled(item["id"]))["status"] == "succeeded"


async def test_three_failures_then_success_follows_the_schedule(
    backend: str, unique: str, tmp_path: Path,
) -> None:
    async with Receiver(script(500, 502, 503)) as rx, webhook_platform(
            backend, unique, tmp_path) as p:
        endpoint = await p.create_endpoint(rx.url)
        rx.secrets = [endpoint["secret"]]
        await p.ctx.lifecycle.listeners.finished(finished_job())
        received = await rx.wait_for(4)
        (listed,) = await p.deliveries()
        delivery = await p.settled(listed["id"])

    assert delivery["status"] == "succeeded" and delivery["attempts"] == 4
    assert len({r.headers["webhook-id"] for r in received}) == 1
    assert all(r.verified == [endpoint["secret"]] for r in received)
    log = delivery["attempt_log"]
    assert [a["number"] for a in log] == [1, 2, 3, 4]
    assert [a["status_code"] for a in log] == [500, 502, 503, 200]
    assert [a["outcome"] for a in log] == ["retry", "retry", "retry", "success"]
    assert [a["next_delay_s"] for a in log] == [*SCHEDULE[1:4], None]
    assert log[0]["response_body"] == '{"seen":true}'
    for before, after, delay in zip(log, log[1:], SCHEDULE[1:], strict=False):
        # Due no earlier than the schedule says, and not attempted before it was due.
        assert after["scheduled_for"] >= before["started_at"] + delay
        assert after["started_at"] >= after["scheduled_for"] - EARLY_TOLERANCE_S
    for before, after, delay in zip(received, received[1:], SCHEDULE[1:], strict=False):
        assert after.at - before.at >= delay - EARLY_TOLERANCE_S


async def test_retry_after_on_429_is_honoured(backend: str, unique: str, tmp_path: Path) -> None:
    async with Receiver(script(429, headers={"Retry-After": "1"})) as rx, webhook_platform(
            backend, unique, tmp_path) as p:
        endpoint = await p.create_endpoint(rx.url)
        await p.ctx.lifecycle.listeners.finished(finished_job())
        first, second = await rx.wait_for(2)
        (listed,) = await p.deliveries()
        delivery = await p.settled(listed["id"])
    assert delivery["status"] == "succeeded"
    assert delivery["attempt_log"][0]["next_delay_s"] == 1.0  # not the schedule's 0.2 s
    assert second.at - first.at >= 1.0 - EARLY_TOLERANCE_S
    assert endpoint["id"] == delivery["endpoint_id"]


async def test_410_disables_the_endpoint(backend: str, unique: str, tmp_path: Path) -> None:
    async with Receiver(script(410)) as rx, webhook_platform(backend, unique, tmp_path) as p:
        endpoint = await p.create_endpoint(rx.url)
        await p.ctx.lifecycle.listeners.finished(finished_job())
        (listed,) = await p.deliveries()
        delivery = await p.settled(listed["id"])
        assert delivery["status"] == "failed" and delivery["attempts"] == 1
        assert delivery["attempt_log"][0]["outcome"] == "gone"
        shown = (await p.client.get(f"/api/v1/webhooks/endpoints/{endpoint['id']}",
                                    headers=p.org_a)).json()
        assert shown["enabled"] is False and "410" in shown["disabled_reason"]
        # Later events are not sent to the disabled endpoint.
        later = finished_job()
        await p.ctx.lifecycle.listeners.finished(later)
        assert await p.deliveries(job_id=later.id) == []
        assert len(rx.received) == 1


async def test_timeouts_and_connection_errors_are_retried(
    backend: str, unique: str, tmp_path: Path,
) -> None:
    calls = 0

    async def slow_once(_: Received) -> Reply:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(3)
        return 200, {}, b""

    async with Receiver(slow_once) as rx, webhook_platform(
            backend, unique, tmp_path, read_timeout_s=0.3) as p:
        await p.create_endpoint(rx.url)
        closed = Receiver()
        async with closed:
            gone_url = closed.url  # nothing listens here once the block ends
        await p.ctx.lifecycle.listeners.finished(finished_job(webhook={"url": gone_url}))
        by_url = {d["url"]: d for d in await p.deliveries()}
        timed_out = await p.settled(by_url[rx.url]["id"])
        refused = await p.settled(by_url[gone_url]["id"])
    assert timed_out["status"] == "succeeded"
    assert timed_out["attempt_log"][0]["error"].startswith("timeout")
    assert timed_out["attempt_log"][0]["outcome"] == "retry"
    assert refused["status"] == "exhausted" and refused["attempts"] == len(SCHEDULE)
    assert all(a["error"].startswith("connection error") for a in refused["attempt_log"])
    assert refused["attempt_log"][-1]["outcome"] == "exhausted"


async def test_per_endpoint_concurrency_is_limited(backend: str, unique: str, tmp_path: Path) -> None:
    async def slow(_: Received) -> Reply:
        await asyncio.sleep(0.1)
        return 200, {}, b""

    async with Receiver(slow) as rx, webhook_platform(
            backend, unique, tmp_path, max_in_flight_per_endpoint=2) as p:
        endpoint = await p.create_endpoint(rx.url)
        for _ in range(8):
            response = await p.client.post(f"/api/v1/webhooks/endpoints/{endpoint['id']}/test",
                                           headers=p.org_a)
            assert response.status_code == 202
        await rx.wait_for(8)
    assert rx.max_in_flight == 2


async def test_a_listener_run_twice_delivers_once(backend: str, unique: str, tmp_path: Path) -> None:
    async with Receiver() as rx, webhook_platform(backend, unique, tmp_path) as p:
        await p.create_endpoint(rx.url)
        job = finished_job()
        await p.ctx.lifecycle.listeners.finished(job)
        await p.ctx.lifecycle.listeners.finished(job)  # e.g. a redelivered job message after a crash
        (listed,) = await p.deliveries(job_id=job.id)
        assert (await p.settled(listed["id"]))["attempts"] == 1
        await p.ctx.lifecycle.listeners.finished(job)
        assert len(await p.deliveries(job_id=job.id)) == 1
    assert len(rx.received) == 1


async def test_a_submitted_job_with_a_webhook_is_delivered(
    backend: str, unique: str, tmp_path: Path,
) -> None:
    async with Receiver() as rx, webhook_platform(
            backend, unique, tmp_path, pools=("model", "webhooks")) as p:
        rx.secrets = [(await p.client.get("/api/v1/webhooks/secret",
                                          headers=p.org_a)).json()["secret"]]
        response = await p.client.post("/api/v1/jobs", headers=p.org_a, json={
            "kind": "model", "payload": {"messages": [{"role": "user", "content": "ping"}],
                                         "webhook": {"url": rx.url}}})
        assert response.status_code == 202, response.text
        (received,) = await rx.wait_for(1)
    body = orjson.loads(received.body)
    assert received.verified == rx.secrets
    assert body["type"] == "job.succeeded"
    assert body["data"]["job"]["id"] == response.json()["id"]
    assert body["data"]["job"]["result"]["content"] == "echo: ping"
