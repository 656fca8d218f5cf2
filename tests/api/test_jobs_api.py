"""The jobs API's contract with integrators: scoping, idempotency, cancel, bad input."""

from __future__ import annotations

import asyncio

import pytest

from services.jobs.model import Job, JobKind, JobStatus
from tests.backends import BACKENDS
from tests.platform import platform


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


async def test_another_orgs_job_is_404_and_not_listed(backend: str, unique: str, tmp_path) -> None:
    async with platform(backend, unique, tmp_path) as p:
        job = (await p.submit("mine", wait=10)).json()
        assert (await p.client.get(f"/api/v1/jobs/{job['id']}", headers=p.org_b)).status_code == 404
        assert (await p.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=p.org_b)).status_code == 404
        assert (await p.client.get("/api/v1/jobs", headers=p.org_b)).json()["data"] == []
        listed = (await p.client.get("/api/v1/jobs", headers=p.org_a)).json()["data"]
        assert [j["id"] for j in listed] == [job["id"]]


async def test_idempotency_key_returns_the_original_or_409(backend: str, unique: str, tmp_path) -> None:
    async with platform(backend, unique, tmp_path) as p:
        key = {**p.org_a, "Idempotency-Key": "order-42"}
        first = await p.submit("same", headers=key)
        again = await p.submit("same", headers=key)
        assert again.json()["id"] == first.json()["id"]
        assert again.headers["idempotent-replayed"] == "true"
        different = await p.submit("different", headers=key)
        assert different.status_code == 409
        assert different.json()["error"]["code"] == "idempotency_conflict"
        # Another org may use the same key for its own job.
        theirs = await p.submit("same", headers={**p.org_b, "Idempotency-Key": "order-42"})
        assert theirs.status_code == 202 and theirs.json()["id"] != first.json()["id"]
        # Exactly one job was created for org-a.
        await p.poll(first.json()["id"])
        assert len((await p.client.get("/api/v1/jobs", headers=p.org_a)).json()["data"]) == 1


async def test_cancel_a_queued_job(backend: str, unique: str, tmp_path) -> None:
    async with platform(backend, unique, tmp_path, workers=False) as p:
        job = (await p.submit("never runs")).json()
        cancelled = await p.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=p.org_a)
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        again = await p.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=p.org_a)
        assert again.status_code == 409


async def test_cancel_a_running_job_drops_its_result(backend: str, unique: str, tmp_path) -> None:
    async with platform(backend, unique, tmp_path) as p:
        job = (await p.submit("long", model="mock-800ms")).json()
        for _ in range(100):
            if (await p.ctx.jobs.get(job["id"])).status == JobStatus.RUNNING:  # type: ignore[union-attr]
                break
            await asyncio.sleep(0.02)
        cancelled = await p.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=p.org_a)
        assert cancelled.json()["status"] == "cancelled"
        await asyncio.sleep(1.2)  # the provider call finishes in the meantime
        final = (await p.client.get(f"/api/v1/jobs/{job['id']}", headers=p.org_a)).json()
        assert final["status"] == "cancelled" and final["result"] is None


async def test_list_filters_and_cursor(backend: str, unique: str, tmp_path) -> None:
    async with platform(backend, unique, tmp_path) as p:
        ids = [(await p.submit(f"n{i}", wait=10)).json()["id"] for i in range(5)]
        await p.submit("bot", kind="chatbot", wait=10)
        seen, cursor = [], None
        while True:
            params: dict[str, str | int] = {"limit": 2, "kind": "model", **({"cursor": cursor} if cursor else {})}
            page = (await p.client.get("/api/v1/jobs", headers=p.org_a, params=params)).json()
            seen += [j["id"] for j in page["data"]]
            if not (cursor := page["next_cursor"]):
                break
        assert seen == list(reversed(ids))
        failed = await p.client.get("/api/v1/jobs", headers=p.org_a, params={"status": "failed"})
        assert failed.json()["data"] == []


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "model", "payload": {"messages": "hi"}}, "payload.messages"),
    ({"kind": "model", "payload": {"messages": [{"role": "wizard", "content": "x"}]}}, "payload.messages.0.role"),
    ({"kind": "model", "payload": {"messages": [], "temperature": 9}}, "payload.temperature"),
    ({"kind": "teleport", "payload": {}}, "kind"),
    ({"payload": {}}, "kind"),
])
async def test_wrong_fields_are_422_naming_the_field(body, field, unique: str, tmp_path) -> None:
    async with platform("embedded", unique, tmp_path, workers=False) as p:
        response = await p.client.post("/api/v1/jobs", json=body, headers=p.org_a)
        assert response.status_code == 422
        assert field in [f["field"] for f in response.json()["error"]["fields"]]
        assert (await p.client.get("/api/v1/jobs", headers=p.org_a)).json()["data"] == []


async def test_malformed_json_is_422_on_body(unique: str, tmp_path) -> None:
    async with platform("embedded", unique, tmp_path, workers=False) as p:
        response = await p.client.post("/api/v1/jobs", content=b"{not json",
                                       headers={**p.org_a, "content-type": "application/json"})
        assert response.status_code == 422
        assert response.json()["error"]["fields"][0]["field"] == "body"


async def test_body_over_the_limit_is_413_declared_or_streamed(unique: str, tmp_path) -> None:
    async with platform("embedded", unique, tmp_path, workers=False) as p:
        big = b'{"kind":"model","payload":{"messages":[{"role":"user","content":"' + b"a" * (1024 * 1024) + b'"}]}}'
        declared = await p.client.post("/api/v1/jobs", content=big,
                                       headers={**p.org_a, "content-type": "application/json"})
        assert declared.status_code == 413

        async def chunks():
            for i in range(0, len(big), 65536):
                yield big[i:i + 65536]

        streamed = await p.client.post("/api/v1/jobs", content=chunks(),
                                       headers={**p.org_a, "content-type": "application/json"})
        assert streamed.status_code == 413
        assert streamed.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("header", [None, "Bearer aim_nope_nope", "Basic abc", "Bearer "])
async def test_missing_or_invalid_key_is_401(header, unique: str, tmp_path) -> None:
    async with platform("embedded", unique, tmp_path, workers=False) as p:
        headers = {"Authorization": header} if header else {}
        response = await p.client.post("/api/v1/jobs", json={"kind": "model", "payload": {"messages": []}},
                                       headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"


async def test_broker_down_at_submit_is_503_and_leaves_no_queued_job(unique: str, tmp_path) -> None:
    async with platform("real", unique, tmp_path, workers=False) as p:
        await p.ctx.broker.close()  # the connection is gone, as in a broker outage
        key = {**p.org_a, "Idempotency-Key": "retry-me"}
        response = await p.submit("lost?", headers=key)
        assert response.status_code == 503
        assert int(response.headers["retry-after"]) >= 1
        jobs = (await p.client.get("/api/v1/jobs", headers=p.org_a)).json()["data"]
        assert [j["status"] for j in jobs] == ["failed"]
        assert jobs[0]["error"]["code"] == "broker_unavailable"
        # The key was released, so the client's retry is not answered with the failed job.
        created = await p.ctx.jobs.create(
            Job(org_id="org-a", kind=JobKind.MODEL, idempotency_key="retry-me"), body_hash="x")
        assert created.created


async def test_negative_wait_is_422(unique: str, tmp_path) -> None:
    async with platform("embedded", unique, tmp_path, workers=False) as p:
        response = await p.submit("x", wait=-1)
        assert response.status_code == 422
        assert response.json()["error"]["fields"][0]["field"] == "wait"


async def test_ready_reports_each_dependency(backend: str, unique: str, tmp_path) -> None:
    async with platform(backend, unique, tmp_path, workers=False) as p:
        ready = await p.client.get("/ready")
        assert ready.status_code == 200
        deps = ready.json()["dependencies"]
        assert {"broker", "job_store", "config_store"} <= set(deps)
        assert all(d["status"] == "ok" and d["latency_ms"] >= 0 for d in deps.values())
        assert (await p.client.get("/healthcheck")).json() == {"status": "ok"}
        if backend == "real":
            await p.ctx.broker.close()
            down = await p.client.get("/ready")
            assert down.status_code == 503
            assert down.json()["dependencies"]["broker"]["status"] == "down"


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "http://169.254.169.254/latest", "http://10.0.0.1/x"])
async def test_a_job_webhook_aimed_at_an_internal_address_is_422(url: str, unique: str, tmp_path) -> None:
    async with platform("embedded", unique, tmp_path, workers=False) as p:
        response = await p.submit("x", webhook={"url": url})
        assert response.status_code == 422
        assert response.json()["error"]["fields"][0]["field"] == "payload.webhook.url"
        assert (await p.client.get("/api/v1/jobs", headers=p.org_a)).json()["data"] == []
