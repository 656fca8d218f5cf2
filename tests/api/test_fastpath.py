"""The fast paths serve POST /api/v1/jobs and /v1/chat/completions without FastAPI's
dependency solving, with the same answers, and leave to FastAPI what only it reads."""

from __future__ import annotations

import fastapi.routing
import pytest

from tests.api.governance.support import scoped_key
from tests.platform import platform

JOB = {"kind": "model", "payload": {"model": "mock-0ms", "messages": [{"role": "user", "content": "hi"}]}}
CHAT = {"model": "mock/mock-0ms", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def no_dependency_solving(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Arm it after a first request: from then on a request FastAPI's router serves is a 500."""

    async def refused(*_: object, **__: object) -> None:
        raise AssertionError("served by FastAPI's router")

    return lambda: monkeypatch.setattr(fastapi.routing, "solve_dependencies", refused)


async def test_submit_and_chat_are_served_without_the_router(no_dependency_solving, unique: str,
                                                             tmp_path) -> None:
    async with platform("embedded", unique, tmp_path) as p:
        # The first request of each path goes through the router, which names its route.
        assert (await p.client.post("/api/v1/jobs", json=JOB, headers=p.org_a)).status_code == 202
        assert (await p.client.post("/v1/chat/completions", json=CHAT, headers=p.org_a)).status_code == 200
        no_dependency_solving()
        submitted = await p.client.post("/api/v1/jobs", json=JOB,
                                        headers={**p.org_a, "Idempotency-Key": "k-1", "Prefer": "wait=10"})
        assert submitted.status_code == 200, submitted.text
        assert submitted.json()["status"] == "succeeded" and submitted.json()["links"]["self"]
        replayed = await p.client.post("/api/v1/jobs", json=JOB, headers={**p.org_a, "Idempotency-Key": "k-1"})
        assert replayed.json()["id"] == submitted.json()["id"]
        assert replayed.headers["idempotent-replayed"] == "true"
        chat = await p.client.post("/v1/chat/completions", json=CHAT, headers=p.org_a)
        assert chat.status_code == 200 and chat.json()["choices"][0]["message"]["content"]
        stored = await p.ctx.jobs.get(submitted.json()["id"])
        assert stored is not None and stored.org_id == "org-a"  # the route ran with the caller's org


async def test_a_fast_submit_answers_as_the_route_does(unique: str, tmp_path) -> None:
    async with platform("embedded", unique, tmp_path, workers=False) as p:
        routed = await p.client.post("/api/v1/jobs?wait=0", json=JOB, headers=p.org_a)  # a query string: FastAPI
        fast = await p.client.post("/api/v1/jobs", json=JOB, headers=p.org_a)
        assert routed.status_code == fast.status_code == 202
        assert set(routed.json()) == set(fast.json())
        assert {k for k in routed.headers if k.startswith(("location", "ratelimit"))} == {
            k for k in fast.headers if k.startswith(("location", "ratelimit"))}
        assert fast.headers["location"] == f"/api/v1/jobs/{fast.json()['id']}"


async def test_scope_auth_and_bad_input_hold_on_the_fast_path(unique: str, tmp_path) -> None:
    async with platform("embedded", unique, tmp_path, workers=False) as p:
        assert (await p.client.post("/api/v1/jobs", json=JOB, headers=p.org_a)).status_code == 202
        reader, _ = await scoped_key(p.ctx, "org-a", ["jobs:read"])
        refused = await p.client.post("/api/v1/jobs", json=JOB, headers=reader)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "insufficient_scope"
        unknown = await p.client.post("/api/v1/jobs", json=JOB, headers={"Authorization": "Bearer nope"})
        assert unknown.status_code == 401
        wrong = await p.client.post("/api/v1/jobs", json={**JOB, "payload": {"messages": "hi"}}, headers=p.org_a)
        assert wrong.status_code == 422
        assert "payload.messages" in [f["field"] for f in wrong.json()["error"]["fields"]]
        extra = await p.client.post("/api/v1/jobs", json={**JOB, "colour": "red"}, headers=p.org_a)
        assert extra.status_code == 422 and "colour" in extra.text
        typo = await p.client.post("/api/v1/jobs?wiat=3", json=JOB, headers=p.org_a)
        assert typo.status_code == 422 and "wiat" in typo.text
        long_key = await p.client.post("/api/v1/jobs", json=JOB, headers={**p.org_a, "Idempotency-Key": "k" * 256})
        assert long_key.status_code == 422 and "idempotency-key" in long_key.text.lower()
        listed = (await p.client.get("/api/v1/jobs", headers=p.org_a)).json()["data"]
        assert len(listed) == 1  # nothing refused was recorded
