"""The webhooks API: endpoint CRUD with secrets shown once, org scoping, URL validation,
secret rotation, test sends, the delivery log and redelivery of an exhausted event."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from services.jobs.model import Job, JobKind, JobStatus
from tests.backends import BACKENDS
from tests.webhook_support import SCHEDULE, Received, Receiver, webhook_platform

ENDPOINTS = "/api/v1/webhooks/endpoints"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def _job() -> Job:
    return Job(org_id="org-a", kind=JobKind.MODEL, status=JobStatus.SUCCEEDED,
               result={"content": "x"}, finished_at=time.time())


async def test_endpoint_crud_shows_the_secret_once_and_is_org_scoped(
    backend: str, unique: str, tmp_path: Path,
) -> None:
    async with webhook_platform(backend, unique, tmp_path) as p:
        created = await p.create_endpoint("http://127.0.0.1:9/in", description="orders",
                                          event_types=["job.failed", "job.succeeded"])
        secret = created["secret"]
        assert secret.startswith("whsec_") and len(secret) > 40
        assert created["event_types"] == ["job.failed", "job.succeeded"]
        path = f"{ENDPOINTS}/{created['id']}"

        shown = (await p.client.get(path, headers=p.org_a)).json()
        assert shown["secret"] == "whsec_..." + secret[-4:]
        listed = (await p.client.get(ENDPOINTS, headers=p.org_a)).json()["data"]
        assert [e["id"] for e in listed] == [created["id"]]
        assert secret not in str(listed)

        patched = await p.client.patch(path, headers=p.org_a,
                                       json={"enabled": False, "description": "paused"})
        assert (patched.json()["enabled"], patched.json()["description"]) == (False, "paused")

        for method, suffix in (("GET", ""), ("PATCH", ""), ("DELETE", ""),
                               ("POST", "/rotate-secret"), ("POST", "/test")):
            kwargs: dict[str, Any] = {"json": {}} if method == "PATCH" else {}
            other = await p.client.request(method, path + suffix, headers=p.org_b, **kwargs)
            assert other.status_code == 404, (method, suffix)
        assert (await p.client.get(ENDPOINTS, headers=p.org_b)).json()["data"] == []

        assert (await p.client.delete(path, headers=p.org_a)).status_code == 204
        assert (await p.client.get(path, headers=p.org_a)).status_code == 404


@pytest.mark.parametrize(("url", "reason"), [
    ("http://127.0.0.1/hook", "loopback address 127.0.0.1"),
    ("http://[::1]/hook", "loopback address ::1"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata address 169.254.169.254"),
    ("http://10.0.0.1/hook", "private address 10.0.0.1"),
    ("http://localhost:8080/hook", "localhost resolves to loopback address"),
    ("gopher://example.com/", "scheme 'gopher' is not http or https"),
])
async def test_unsafe_urls_are_rejected_naming_url(
    url: str, reason: str, unique: str, tmp_path: Path,
) -> None:
    async with webhook_platform("embedded", unique, tmp_path, allow_cidrs=[]) as p:
        response = await p.client.post(ENDPOINTS, headers=p.org_a, json={"url": url})
        assert response.status_code == 422
        (field,) = response.json()["error"]["fields"]
        assert field["field"] == "url" and reason in field["reason"]
        assert (await p.client.get(ENDPOINTS, headers=p.org_a)).json()["data"] == []


async def test_bad_event_types_and_cursor_are_422(unique: str, tmp_path: Path) -> None:
    async with webhook_platform("embedded", unique, tmp_path) as p:
        response = await p.client.post(ENDPOINTS, headers=p.org_a, json={
            "url": "http://127.0.0.1:9/", "event_types": ["job.exploded"]})
        assert response.status_code == 422
        assert response.json()["error"]["fields"][0]["field"] == "event_types"
        bad_cursor = await p.client.get("/api/v1/webhooks/deliveries", headers=p.org_a,
                                        params={"cursor": "nope"})
        assert bad_cursor.status_code == 422


async def test_rotation_signs_with_both_secrets_during_the_overlap(
    backend: str, unique: str, tmp_path: Path,
) -> None:
    async with Receiver() as rx, webhook_platform(backend, unique, tmp_path) as p:
        endpoint = await p.create_endpoint(rx.url)
        old = endpoint["secret"]
        test_path = f"{ENDPOINTS}/{endpoint['id']}/test"

        async def send_test() -> Received:
            response = await p.client.post(test_path, headers=p.org_a)
            assert response.status_code == 202
            assert response.json()["event_type"] == "webhook.test"
            return (await rx.wait_for(len(rx.received) + 1))[-1]

        rotated = await p.client.post(f"{ENDPOINTS}/{endpoint['id']}/rotate-secret",
                                      headers=p.org_a, json={"overlap_s": 3600})
        new = rotated.json()["secret"]
        assert new != old and rotated.json()["secret"] == new
        rx.secrets = [old, new]
        during = await send_test()
        assert during.verified == [old, new]  # a receiver holding either secret verifies
        assert len(during.headers["webhook-signature"].split(" ")) == 2

        again = await p.client.post(f"{ENDPOINTS}/{endpoint['id']}/rotate-secret",
                                    headers=p.org_a, json={"overlap_s": 0})
        newest = again.json()["secret"]
        rx.secrets = [old, new, newest]
        after = await send_test()
        assert after.verified == [newest]  # no overlap: only the newest secret signs
        shown = (await p.client.get(f"{ENDPOINTS}/{endpoint['id']}", headers=p.org_a)).json()
        assert shown["secret"] == "whsec_..." + newest[-4:]


async def test_an_exhausted_event_is_listed_and_redelivered(
    backend: str, unique: str, tmp_path: Path,
) -> None:
    healthy = False

    def receiver(_: Received) -> tuple[int, dict[str, str], bytes]:
        return (200, {}, b"thanks") if healthy else (500, {}, b"x" * 5000)

    async with Receiver(receiver) as rx, webhook_platform(backend, unique, tmp_path) as p:
        endpoint = await p.create_endpoint(rx.url)
        job = _job()
        await p.ctx.lifecycle.listeners.finished(job)
        (listed,) = await p.deliveries(job_id=job.id)
        exhausted = await p.settled(listed["id"])
        assert exhausted["status"] == "exhausted" and exhausted["attempts"] == len(SCHEDULE)
        assert len(exhausted["attempt_log"][0]["response_body"]) == 2048  # truncated to 2 KB
        assert [d["id"] for d in await p.deliveries(status="exhausted")] == [listed["id"]]
        assert await p.deliveries(status="succeeded") == []

        path = f"/api/v1/webhooks/deliveries/{listed['id']}"
        assert (await p.client.get(path, headers=p.org_b)).status_code == 404
        assert (await p.client.post(path + "/redeliver", headers=p.org_b)).status_code == 404

        healthy = True
        again = await p.client.post(path + "/redeliver", headers=p.org_a)
        assert again.status_code == 202 and again.json()["status"] == "pending"
        done = await p.settled(listed["id"])
        assert done["status"] == "succeeded" and done["attempts"] == len(SCHEDULE) + 1
        assert done["attempt_log"][-1]["response_body"] == "thanks"
        assert (await p.client.post(path + "/redeliver", headers=p.org_a)).status_code == 202
        assert endpoint["id"] == done["endpoint_id"]
    # Every attempt, the redelivery included, carried the same webhook-id.
    assert len(rx.received) >= len(SCHEDULE) + 1
    assert len({r.headers["webhook-id"] for r in rx.received}) == 1


async def test_redelivering_a_pending_delivery_is_409(unique: str, tmp_path: Path) -> None:
    async with Receiver(lambda r: (500, {}, b"")) as rx, webhook_platform(
            "embedded", unique, tmp_path, retry_schedule_s=[0, 30]) as p:
        await p.create_endpoint(rx.url)
        await p.ctx.lifecycle.listeners.finished(_job())
        await rx.wait_for(1)
        (listed,) = await p.deliveries()
        response = await p.client.post(f"/api/v1/webhooks/deliveries/{listed['id']}/redeliver",
                                       headers=p.org_a)
        assert response.status_code == 409


async def test_deliveries_paginate_newest_first(unique: str, tmp_path: Path) -> None:
    async with Receiver() as rx, webhook_platform("embedded", unique, tmp_path) as p:
        await p.create_endpoint(rx.url)
        jobs = [_job() for _ in range(5)]
        for job in jobs:
            job.finished_at = time.time()
            await p.ctx.lifecycle.listeners.finished(job)
        await rx.wait_for(5)
        seen, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await p.client.get("/api/v1/webhooks/deliveries", headers=p.org_a,
                                       params=params)).json()
            seen += [d["job_id"] for d in page["data"]]
            if not (cursor := page["next_cursor"]):
                break
        assert seen == [j.id for j in reversed(jobs)]
        other = await p.client.get("/api/v1/webhooks/deliveries", headers=p.org_b)
        assert other.json()["data"] == []
