"""Jobs reach workers in packs: a dispatch round's held jobs, and the jobs submitted in one
loop tick of an API process, go several to a RabbitMQ message. Each packed job still runs
once, in one of the process's `jobs.concurrency` slots, and a packed job that must wait or
that failed goes back to the queue alone, without its pack-mates."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from config import Settings
from services.broker.base import OutgoingMessage
from services.broker.queues import dead_letter_queue
from services.errors import Unavailable
from services.jobs.lifecycle import JobLifecycle
from services.jobs.messages import JobMessage, JobPack, PackedJob, decode_jobs
from services.jobs.model import Job, JobKind, JobStatus
from tests.backends import BACKENDS, context, make_settings
from tests.e2e.jobs_support import work_until

SLOTS = 4


def _settings(backend: str, unique: str, tmp_path: Path, *, slots: int = SLOTS, **scheduling: Any) -> Settings:
    base = make_settings(backend, unique, tmp_path, concurrency=slots)
    return base.model_copy(update={"scheduling": base.scheduling.model_copy(update=scheduling)})


def _payload(model: str) -> dict[str, Any]:
    return {"provider": "mock", "model": model, "messages": [{"role": "user", "content": "x"}]}


class Sent:
    """The jobs each message published to the job queue carried, and its delay."""

    def __init__(self, ctx: Any) -> None:
        self.messages: list[tuple[list[str], float]] = []
        publish_each, publish = ctx.broker.publish_each, ctx.broker.publish
        # The embedded broker's publish_each calls its publish: count those once (per task).
        inside_each: ContextVar[bool] = ContextVar("inside_each", default=False)

        async def each(queue: str, messages: Sequence[OutgoingMessage]) -> list[Unavailable | None]:
            if queue == "jobs.model":
                self.messages += [([m.job_id for m in decode_jobs(o.body)], 0.0) for o in messages]
            token = inside_each.set(True)
            try:
                return await publish_each(queue, messages)
            finally:
                inside_each.reset(token)

        async def one(queue: str, message: OutgoingMessage, *, delay_s: float = 0) -> None:
            if queue == "jobs.model" and not inside_each.get():
                self.messages.append(([m.job_id for m in decode_jobs(message.body)], delay_s))
            await publish(queue, message, delay_s=delay_s)

        ctx.broker.publish_each, ctx.broker.publish = each, one


def _peak_running(records: list[Job | None]) -> int:
    edges = sorted([(r.started_at, 1) for r in records if r and r.started_at]
                   + [(r.finished_at, -1) for r in records if r and r.finished_at])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


@dataclass
class Run:
    ids: list[str]
    sent: Sent
    records: list[Job | None]


async def _run_held(settings: Settings, count: int, model: str,
                    before: Callable[[Any, list[str]], None] = lambda ctx, ids: None) -> Run:
    """One job dispatched alone, then `count` held in the fair queue (the next round packs
    them), and an in-process worker runs them all to success (`before` sees the context and
    the ids first)."""
    async with context(settings) as ctx:
        await ctx.broker.declare(["jobs.model"])
        sent = Sent(ctx)
        ahead = ctx.scheduler.settings.dispatch_ahead
        ctx.scheduler.settings.dispatch_ahead = 1  # a submit's own round moves at most this many
        ids = [(await ctx.lifecycle.submit("org-a", JobKind.MODEL, _payload(model))).job.id for _ in range(count + 1)]
        ctx.scheduler.settings.dispatch_ahead = ahead
        before(ctx, ids)
        await work_until(ctx, ids, timeout=60)
        return Run(ids, sent, [await ctx.jobs.get(j) for j in ids])


@pytest.mark.parametrize("backend", BACKENDS)
async def test_held_jobs_travel_in_packs_and_run_once_each_in_a_slot(
    backend: str, unique: str, tmp_path: Path,
) -> None:
    run = await _run_held(_settings(backend, unique, tmp_path, dispatch_pack=8), 59, "mock-50ms")
    ids, sent, records = run.ids, run.sent, run.records
    packs = [m for m, _ in sent.messages if len(m) > 1]
    assert max(len(m) for m in packs) == 8
    assert sorted(j for m in packs for j in m) == sorted(ids[1:])  # each held job dispatched once
    # A channel's 4 deliveries were up to 32 jobs: a pack took the slots free when it came
    # and sent the rest back alone, so 4 ran at once and none waited in the worker.
    assert _peak_running(records) <= SLOTS
    assert len([m for m, _ in sent.messages if len(m) == 1]) > 1
    assert all(r is not None and r.attempts == 1 for r in records)


async def test_a_packed_job_that_must_wait_for_capacity_goes_back_alone(unique: str, tmp_path: Path) -> None:
    # Two calls per 2 s window at 95% headroom: one start every ~1.05 s, far enough
    # (NEAR_S = 1 s) that each later job goes round a delay queue rather than sleeping here.
    settings = _settings("real", unique, tmp_path, slots=16, limits={"mock/mock-0ms": {"rpm": 2}}, window_s=2.0)
    run = await _run_held(settings, 3, "mock-0ms")
    ids, sent, records = run.ids, run.sent, run.records
    packs = [m for m, _ in sent.messages if len(m) > 1]
    assert packs == [ids[1:]]
    # Each packed job that had to wait came back in a delayed message of its own.
    delayed = [m for m, delay in sent.messages if delay > 0]
    assert all(len(m) == 1 for m in delayed) and {m[0] for m in delayed} >= set(ids[2:])
    assert all(r is not None and r.attempts == 1 for r in records)


async def test_a_packed_job_that_failed_goes_back_alone_and_its_pack_mates_finish(
    unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    broken: list[str] = []
    run_message = JobLifecycle.run_message

    async def fails_once(self: JobLifecycle, message: JobMessage, *, redelivered: bool) -> None:
        calls.append(message.job_id)
        if message.job_id in broken and calls.count(message.job_id) == 1:
            raise RuntimeError("the job store went away for a moment")
        await run_message(self, message, redelivered=redelivered)

    monkeypatch.setattr(JobLifecycle, "run_message", fails_once)
    # Slots for all: the pack of 5 runs whole, so the failed job's message of its own is its
    # failure's, not a pack's rest sent back.
    run = await _run_held(_settings("real", unique, tmp_path, slots=16), 5, "mock-0ms",
                          before=lambda ctx, ids: broken.append(ids[3]))
    ids, sent, records = run.ids, run.sent, run.records
    assert [m for m, _ in sent.messages if len(m) > 1] == [ids[1:]]
    assert (broken, 0) in sent.messages  # back alone, at once
    assert sorted(calls) == sorted([*ids, *broken])  # its pack-mates ran once, not again
    assert all(r is not None and r.attempts == 1 for r in records)


async def test_a_pack_whose_rest_could_not_go_back_comes_round_again_whole(
    unique: str, tmp_path: Path,
) -> None:
    refusals: list[int] = []

    def refuse_the_first_return(ctx: Any, ids: list[str]) -> None:
        publish_each = ctx.broker.publish_each

        async def refusing(queue: str, messages: Sequence[OutgoingMessage]) -> list[Unavailable | None]:
            singles = all(len(decode_jobs(m.body)) == 1 for m in messages)
            if queue == "jobs.model" and messages and singles and not refusals:
                refusals.append(len(messages))
                return [Unavailable("refused") for _ in messages]
            return await publish_each(queue, messages)

        ctx.broker.publish_each = refusing

    run = await _run_held(_settings("real", unique, tmp_path, dispatch_pack=8), 8, "mock-50ms",
                          before=refuse_the_first_return)
    # The pack of 8 found at most 4 slots free and could not send the rest back: nothing of
    # it ran, and it came round again; every job still ran, once.
    assert len(refusals) == 1 and refusals[0] >= 4
    assert all(r is not None and r.status is JobStatus.SUCCEEDED and r.attempts == 1 for r in run.records)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_dead_lettered_pack_fails_each_of_its_jobs(backend: str, unique: str, tmp_path: Path) -> None:
    async with context(_settings(backend, unique, tmp_path)) as ctx:
        await ctx.broker.declare(["jobs.model"])
        # Recorded, never queued: the dead-lettered pack is the only message they are in.
        ids = [(await ctx.lifecycle.submit("org-a", JobKind.MODEL, _payload("mock-0ms"), publish=False)).job.id
               for _ in range(2)]
        pack = JobPack(kind="model", jobs=[PackedJob(job_id=j, org_id="org-a") for j in ids])
        await ctx.broker.publish(dead_letter_queue("jobs.model"), pack.outgoing())
        await work_until(ctx, ids, JobStatus.FAILED, timeout=30)
        records = [await ctx.jobs.get(j) for j in ids]
    assert [r.error.code if r and r.error else None for r in records] == ["delivery_limit"] * 2


@pytest.mark.parametrize("backend", BACKENDS)
async def test_jobs_submitted_in_one_tick_share_one_message_and_run_once_each(
    backend: str, unique: str, tmp_path: Path,
) -> None:
    async with context(_settings(backend, unique, tmp_path, slots=16)) as ctx:
        await ctx.broker.declare(["jobs.model"])
        sent = Sent(ctx)
        submitted = await asyncio.gather(*(ctx.lifecycle.submit("org-a", JobKind.MODEL, _payload("mock-0ms"))
                                           for _ in range(10)))
        ids = [s.job.id for s in submitted]
        await work_until(ctx, ids, timeout=30)
        records = [await ctx.jobs.get(j) for j in ids]
    assert [sorted(m) for m, _ in sent.messages] == [sorted(ids)]  # one message for the ten
    assert all(r is not None and r.attempts == 1 for r in records)


async def test_a_refused_publish_fails_every_submit_of_its_tick(unique: str, tmp_path: Path) -> None:
    async with context(_settings("real", unique, tmp_path)) as ctx:
        await ctx.broker.declare(["jobs.model"])

        async def refused(queue: str, messages: Sequence[OutgoingMessage]) -> list[Unavailable | None]:
            return [Unavailable("refused") for _ in messages]

        ctx.broker.publish_each = refused  # type: ignore[method-assign]
        outcomes = await asyncio.gather(*(ctx.lifecycle.submit("org-a", JobKind.MODEL, _payload("mock-0ms"))
                                          for _ in range(5)), return_exceptions=True)
        assert [type(o) for o in outcomes] == [Unavailable] * 5
        listed = await ctx.lifecycle.list_jobs("org-a")
    # None is left queued: each failed, and its held copy is skipped when dispatched later.
    assert [(j.status, j.error.code if j.error else None) for j in listed.jobs] == [
        (JobStatus.FAILED, "broker_unavailable")] * 5
