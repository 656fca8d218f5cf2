"""Submit over HTTP -> broker -> worker -> store; poll and wait both see the result.

Runs on the embedded backends and on real RabbitMQ + Redis.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.backends import BACKENDS
from tests.platform import platform


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


async def test_submit_then_poll_sees_succeeded(backend: str, unique: str, tmp_path) -> None:
    async with platform(backend, unique, tmp_path) as p:
        response = await p.submit("poll me")
        assert response.status_code == 202
        accepted = response.json()
        assert accepted["status"] in ("queued", "running", "succeeded")
        assert accepted["links"]["self"] == f"/api/v1/jobs/{accepted['id']}"
        job = await p.poll(accepted["id"])
        assert job["status"] == "succeeded"
        assert job["result"]["content"] == "echo: poll me"
        assert job["attempts"] == 1
        assert job["queue_ms"] is not None and job["started_at"] >= job["created_at"]
        assert "request" not in job  # the stored request is not echoed back


async def test_submit_with_wait_answers_with_the_result(backend: str, unique: str, tmp_path) -> None:
    async with platform(backend, unique, tmp_path) as p:
        response = await p.submit("wait for me", wait=10)
        assert response.status_code == 200
        assert response.json()["status"] == "succeeded"
        assert response.json()["result"]["content"] == "echo: wait for me"


async def test_get_with_prefer_wait_holds_until_done(backend: str, unique: str, tmp_path) -> None:
    async with platform(backend, unique, tmp_path) as p:
        accepted = (await p.submit("slow", model="mock-300ms")).json()
        response = await p.client.get(f"/api/v1/jobs/{accepted['id']}",
                                      headers={**p.org_a, "Prefer": "wait=10"})
        assert response.status_code == 200
        assert response.json()["status"] == "succeeded"


async def test_wait_that_runs_out_answers_202_with_the_id(backend: str, unique: str, tmp_path) -> None:
    async with platform(backend, unique, tmp_path) as p:
        response = await p.submit("slow", model="mock-2000ms", wait=0.2)
        assert response.status_code == 202
        assert response.json()["status"] in ("queued", "running")
        assert response.headers["location"] == f"/api/v1/jobs/{response.json()['id']}"


async def test_many_concurrent_jobs_all_complete(backend: str, unique: str, tmp_path) -> None:
    async with platform(backend, unique, tmp_path) as p:
        responses = await asyncio.gather(*(p.submit(f"n{i}", wait=20) for i in range(60)))
        assert all(r.json()["status"] == "succeeded" for r in responses)
        assert sorted(r.json()["result"]["content"] for r in responses) == sorted(f"echo: n{i}" for i in range(60))


async def test_chatbot_kind_runs_on_its_own_queue(backend: str, unique: str, tmp_path) -> None:
    async with platform(backend, unique, tmp_path, pools=["chatbot"]) as p:
        made = await p.client.post("/api/v1/config/bridges", headers=p.org_a, json={
            "name": "bot", "type": "chatbot", "model": "mock-0ms", "response_format": {"type": "async"}})
        assert made.status_code == 201, made.text
        turn = await p.client.post("/api/v1/chatbot/bot/messages", headers=p.org_a, json={"content": "bot"})
        assert turn.status_code == 202, turn.text
        job = await p.poll(turn.json()["job"]["id"])
        assert job["status"] == "succeeded" and job["kind"] == "chatbot"
        assert job["result"]["content"] == "echo: bot"
        # A bare chatbot job cannot take a turn of a thread: the answer says where turns go.
        bare = await p.submit("bot", kind="chatbot")
        assert bare.status_code == 422
        assert "/api/v1/chatbot/" in bare.json()["error"]["message"]
