"""Chatbot turns end to end on real RabbitMQ and Redis, answered by the provider simulator:
the model sees the thread's history on the queued path, a long thread is trimmed to its
budget and summarised, a redelivered turn adds no message, and two turns sent at once to
one thread, consumed by two worker processes, finish in order."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from api.app import create_app
from config import MongoSettings, Settings
from services.context import Context
from services.jobs.executor import RunAttempts
from services.jobs.model import JobKind, JobStatus
from services.providers.simulator.server import RunningSimulator
from services.threads.executor import ChatbotJobPayload
from services.threads.memory import SUMMARY_HEADER
from tests.api.chatbot_support import publish_bridge
from tests.backends import context, new_key
from tests.chat_support import TEST_KEY, chat_settings
from tests.e2e.processes import start_worker, stop_all, wait_for_consumers
from tests.mongo_wire import MongoWire
from workers.process import start_runner

TURN = "/api/v1/chatbot/{bridge}/messages"


def _settings(sim: RunningSimulator, unique: str, tmp_path: Path, mongo_url: str | None = None) -> Settings:
    settings = chat_settings("real", unique, tmp_path, sim_url=sim.url)
    providers = settings.providers.model_copy(update={"openai_compatible": {"vllm": f"{sim.url}/vllm/v1"}})
    mongo = MongoSettings(url=mongo_url, database=f"aim_test_{unique}")
    return settings.model_copy(update={"providers": providers, "mongo": mongo})


@dataclass
class Chat:
    ctx: Context
    client: httpx.AsyncClient
    org: dict[str, str]
    sim: RunningSimulator

    async def turn(self, content: str, thread_id: str | None = None, bridge: str = "support") -> dict[str, Any]:
        response = await self.client.post(TURN.format(bridge=bridge), headers=self.org,
                                          json={"content": content, "thread_id": thread_id})
        assert response.status_code in (200, 202), response.text
        body: dict[str, Any] = response.json()
        return body

    async def finished(self, job_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/api/v1/jobs/{job_id}?wait=20", headers=self.org)
        body: dict[str, Any] = response.json()
        assert body["status"] == "succeeded", body
        return body

    async def contents(self, model: str) -> list[list[str]]:
        """The message contents of every call the simulator got for `model`."""
        return [[m["content"] for m in body["messages"]] for body in await self.sim.received(model)]


@asynccontextmanager
async def chat(sim: RunningSimulator, unique: str, tmp_path: Path, *, workers: bool = True,
               settings: Settings | None = None) -> AsyncIterator[Chat]:
    settings = settings or _settings(sim, unique, tmp_path)
    async with context(settings, role="api") as ctx:
        await ctx.credentials.put("org-a", "vllm", TEST_KEY)
        await ctx.broker.declare(["jobs.chatbot"])
        runner = await start_runner(ctx, ["chatbot"]) if workers else None
        app = create_app(settings, ctx=ctx)
        try:
            async with app.router.lifespan_context(app), httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=30) as client:
                yield Chat(ctx, client, await new_key(ctx, "org-a"), sim)
        finally:
            if runner is not None:
                await runner.stop()


async def test_a_queued_follow_up_reaches_the_model_with_the_earlier_turns(
    sim: RunningSimulator, unique: str, tmp_path: Path,
) -> None:
    model = f"queued-{unique}"
    async with chat(sim, unique, tmp_path) as c:
        await publish_bridge(c.client, c.org, "support", model, response_format={"type": "async"})
        first = await c.turn("my name is Ada")
        assert first["job"]["kind"] == "chatbot" and first["turn"] == 1
        await c.finished(first["job"]["id"])
        second = await c.turn("what is my name?", thread_id=first["thread_id"])
        done = await c.finished(second["job"]["id"])
        # The same thread through the bridge route, queued as well.
        third = await c.client.post("/api/v2/model/chat/completion", headers=c.org, json={
            "slug": "support", "user": "and my job?", "thread_id": first["thread_id"]})
        assert third.status_code == 202, third.text
        await c.finished(third.json()["id"])
    assert done["result"]["content"] == "sim: what is my name?"
    assert done["meta"]["thread_id"] == first["thread_id"]
    assert await c.contents(model) == [
        ["my name is Ada"],
        ["my name is Ada", "sim: my name is Ada", "what is my name?"],
        ["my name is Ada", "sim: my name is Ada", "what is my name?", "sim: what is my name?", "and my job?"],
    ]


async def test_a_long_thread_is_trimmed_to_its_budget_and_summarised(
    sim: RunningSimulator, unique: str, tmp_path: Path,
) -> None:
    model, summarizer = f"long-{unique}", f"summary-{unique}"
    memory = {"max_history_tokens": 60, "summarize": True,
              "summary_model": {"provider": "vllm", "model": summarizer}}
    async with chat(sim, unique, tmp_path, workers=False) as c:
        await publish_bridge(c.client, c.org, "support", model, memory=memory)
        thread_id: str | None = None
        for n in range(8):
            answer = await c.turn(f"turn {n}: " + "words " * 12, thread_id=thread_id)
            thread_id = str(answer["thread_id"])
            await asyncio.sleep(0.2)  # summaries are written after the turn, off its path
        async with asyncio.timeout(15):
            while not (thread := await c.ctx.threads.store.get_thread("org-a", str(thread_id))) or not thread.summary:
                await asyncio.sleep(0.1)
        calls = await c.contents(model)
    last = calls[-1]
    # The newest turn is there, the oldest is not: history was cut to the token budget...
    assert last[-1].startswith("turn 7:") and not any(m.startswith("turn 0:") for m in last[1:])
    assert len(last) < 2 * 8
    # ...and what was cut is carried by the running summary the summarizer model wrote.
    assert await sim.received(summarizer)
    assert thread.summary and thread.summary.startswith("sim:")
    assert last[0].endswith(f"{SUMMARY_HEADER}\n{thread.summary}") or SUMMARY_HEADER in last[0], last[0]


async def test_a_turn_redelivered_after_it_was_written_adds_no_message(
    sim: RunningSimulator, unique: str, tmp_path: Path,
) -> None:
    model = f"redeliver-{unique}"
    async with chat(sim, unique, tmp_path, workers=False) as c:
        await publish_bridge(c.client, c.org, "support", model, response_format={"type": "async"})
        queued = await c.turn("only once")
        job = await c.ctx.jobs.get(queued["job"]["id"])
        assert job is not None and job.status is JobStatus.QUEUED
        # A worker that wrote the turn and died before finishing the job...
        executor = c.ctx.executors.get(JobKind.CHATBOT)
        await executor.run(job.model_copy(update={"status": JobStatus.RUNNING, "attempts": 1}),
                           ChatbotJobPayload.model_validate(job.request), RunAttempts())
        # ...then the message is delivered again, to a live worker.
        runner = await start_runner(c.ctx, ["chatbot"])
        try:
            done = await c.finished(job.id)
        finally:
            await runner.stop()
        messages = await c.client.get(f"/api/v1/threads/{queued['thread_id']}/messages", headers=c.org)
    assert [(m["role"], m["content"]) for m in messages.json()["data"]] == [
        ("user", "only once"), ("assistant", "sim: only once")]
    assert done["result"]["content"] == "sim: only once"
    assert len(await sim.received(model)) == 1  # the redelivery replayed the stored answer


async def test_two_turns_at_once_through_two_worker_processes_finish_in_order(
    sim: RunningSimulator, unique: str, tmp_path: Path, mongo_wire: MongoWire,
) -> None:
    model = f"sim-1000ms-order-{unique}"
    # Every process keeps threads, bridges and credentials in MongoDB (the wire front: one
    # mongomock reached over TCP) and the turn order in the real Redis, as in production.
    settings = _settings(sim, unique, tmp_path, mongo_url=mongo_wire.url)
    providers = settings.providers
    # One job at a time per worker (prefetch 1): while one process holds turn 1 unacked,
    # RabbitMQ can only deliver turn 2 to the other, which must find turn 1 unfinished.
    env = {"PROVIDERS_SIMULATOR_URL": sim.url, "PROVIDERS_OPENAI_COMPATIBLE": json.dumps(providers.openai_compatible),
           "TIMESCALE_SERVICE_URL": "", "APP_METRICS_PORT": "0", "JOBS_CONCURRENCY": "1"}
    logs = [(tmp_path / f"worker{n}.log").open("wb") for n in (1, 2)]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        async with chat(sim, unique, tmp_path, workers=False, settings=settings) as c:
            await publish_bridge(c.client, c.org, "support", model, response_format={"type": "async"})
            procs = [start_worker(settings, "chatbot", stderr=log, **env) for log in logs]
            await wait_for_consumers(settings, "jobs.chatbot", 2, procs)
            first = await c.turn("first question")
            # Sent while turn 1 is queued or running (the simulator holds it 1 s).
            second = await c.turn("second question", thread_id=first["thread_id"])
            jobs = [await c.finished(first["job"]["id"]), await c.finished(second["job"]["id"])]
            contents = await c.contents(model)
    finally:
        stop_all(procs)
        for log in logs:
            log.close()
    assert (first["turn"], second["turn"]) == (1, 2)
    assert jobs[1]["created_at"] < jobs[0]["finished_at"]  # the turns did overlap
    assert jobs[0]["finished_at"] <= jobs[1]["finished_at"]
    # Turn 2's model call came after turn 1's answer was stored. Not asserted on the records:
    # job 1's finished_at <= job 2's started_at, which failed 1 run in ~10 by ~15 ms, since
    # the lifecycle stamps started_at before the executor takes the turn and the executor
    # frees the turn before the lifecycle stamps finished_at.
    assert contents[-1] == ["first question", "sim: first question", "second question"]
    assert jobs[1]["attempts"] == 1  # waiting for turn 1 spent no attempt
