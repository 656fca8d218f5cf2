"""A job kind added with one executor and one registration runs exactly like a model job:
submit -> RabbitMQ -> a worker (its own Context), and inline in the API process, with the
same record, listeners (webhook) and metric row."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from api.app import create_app
from services.context import Context
from services.jobs.executor import Outcome, RunAttempts
from services.jobs.model import Job
from tests.backends import context, new_key
from tests.conftest import require_env
from tests.webhook_support import Receiver, webhook_settings
from workers.process import start_runner


class EchoPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=100)


class EchoExecutor:
    """The whole of a new kind: a payload model and a run that returns an Outcome."""

    kind = "echo"
    payload_model = EchoPayload

    async def run(self, job: Job, payload: EchoPayload, attempts: RunAttempts) -> Outcome:
        return Outcome(result={"content": payload.text.upper()}, provider="local", model="echo-1",
                       usage={"input_tokens": len(payload.text), "output_tokens": len(payload.text)},
                       cost_usd=0.0001, cache="bypass", latency_ms=0.1)


def _with_echo(ctx: Context) -> Context:
    ctx.executors.register(EchoExecutor())  # the one registration line
    return ctx


async def _until(check: Any, timeout_s: float = 20.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not check():
            await asyncio.sleep(0.05)


async def test_an_added_kind_runs_queued_and_inline_like_a_model_job(unique: str, tmp_path: Path) -> None:
    require_env("QUEUE_CONNECTIONURL")
    settings = webhook_settings("real", unique, tmp_path)
    async with Receiver() as receiver, context(settings, role="worker") as worker_ctx, \
            context(settings, role="api") as api_ctx:
        runner = await start_runner(_with_echo(worker_ctx), ["echo", "model", "webhooks", "metrics"])
        app = create_app(settings, ctx=_with_echo(api_ctx))
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                         timeout=30) as client:
                org = await new_key(api_ctx, "org-a")
                made = await client.post("/api/v1/webhooks/endpoints", headers=org, json={"url": receiver.url})
                assert made.status_code == 201, made.text

                bad_kind = await client.post("/api/v1/jobs", headers=org, json={"kind": "ech", "payload": {}})
                assert bad_kind.status_code == 422
                assert bad_kind.json()["error"]["fields"][0]["field"] == "kind"
                bad_payload = await client.post("/api/v1/jobs", headers=org,
                                                json={"kind": "echo", "payload": {"txt": "x"}})
                assert bad_payload.status_code == 422
                assert {f["field"] for f in bad_payload.json()["error"]["fields"]} == {
                    "payload.text", "payload.txt"}

                echo = (await client.post("/api/v1/jobs?wait=20", headers=org,
                                          json={"kind": "echo", "payload": {"text": "hi there"}})).json()
                model = (await client.post("/api/v1/jobs?wait=20", headers=org, json={
                    "kind": "model", "payload": {"model": "mock-0ms",
                                                 "messages": [{"role": "user", "content": "hi"}]}})).json()
            inline = await api_ctx.lifecycle.run_inline("org-a", "echo", EchoPayload(text="inline"), {})

            assert echo["status"] == model["status"] == "succeeded"
            assert echo["result"] == {"content": "HI THERE"} and echo["attempts"] == 1
            assert inline.result == {"content": "INLINE"} and inline.meta["mode"] == "inline"
            # The same record facts as a model job: provider, model, usage, cost, attempts.
            for meta in (echo["meta"], model["meta"], inline.meta):
                assert {"provider", "model", "usage", "cost_usd", "cache", "attempts"} <= set(meta)
            assert (echo["meta"]["provider"], echo["meta"]["model"]) == ("local", "echo-1")

            # The same listeners: one signed webhook and one metric row per job, whichever
            # process finished it.
            ids = {echo["id"], model["id"], inline.id}
            received = await receiver.wait_for(3, within_s=30)
            bodies = [json.loads(r.body) for r in received]
            assert {b["data"]["job"]["id"] for b in bodies} == ids
            assert {b["type"] for b in bodies} == {"job.succeeded"}
            sink: Any = worker_ctx.metrics.sink
            await _until(lambda: {row.job_id for row in sink.rows()} >= ids)
            rows = {row.job_id: row for row in sink.rows()}
            assert (rows[echo["id"]].kind, rows[echo["id"]].provider) == ("echo", "local")
            assert rows[inline.id].input_tokens == len("inline")
            assert rows[model["id"]].kind == "model"
        finally:
            await runner.stop()
