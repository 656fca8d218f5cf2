"""Batching by size and age, returning only after commit, holding through an outage."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from services.errors import Permanent, Unavailable
from services.metrics.batcher import Batcher
from services.metrics.memory_sink import MemoryMetricsSink
from services.metrics.schemas import MetricEvent
from services.metrics.sink import SinkRejected, SinkUnavailable
from tests.services.metrics.conftest import event


class FakeSink(MemoryMetricsSink):
    """The memory sink, plus: a gate before commit, scripted outages, refused job ids."""

    def __init__(self, *, down_for: int = 0, refuse: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.down_for = down_for
        self.refuse = refuse
        self.batches: list[list[str]] = []

    async def write(self, events: Sequence[MetricEvent]) -> int:
        await self.gate.wait()
        if self.down_for > 0:
            self.down_for -= 1
            raise SinkUnavailable("connection refused")
        if self.refuse & {e.job_id for e in events}:
            raise SinkRejected("value out of range")
        self.batches.append([e.job_id for e in events])
        return await super().write(events)


def batcher(sink: FakeSink, **kw: float) -> Batcher:
    opts = {"max_size": 3, "max_age_s": 30.0, "retry_base_s": 0.001, "retry_max_s": 0.01, **kw}
    return Batcher(sink, **opts)  # type: ignore[arg-type]


async def test_a_full_batch_is_written_at_once() -> None:
    sink = FakeSink()
    b = batcher(sink)
    await asyncio.wait_for(asyncio.gather(*(b.add(event(f"j{i}")) for i in range(6))), 5)
    assert sink.batches == [["j0", "j1", "j2"], ["j3", "j4", "j5"]]


async def test_a_partial_batch_goes_out_when_it_ages() -> None:
    sink = FakeSink()
    b = batcher(sink, max_size=100, max_age_s=0.05)
    await asyncio.wait_for(asyncio.gather(b.add(event("a")), b.add(event("b"))), 5)
    assert sink.batches == [["a", "b"]]


async def test_add_returns_only_after_the_commit() -> None:
    sink = FakeSink()
    sink.gate.clear()
    b = batcher(sink)
    adds = [asyncio.create_task(b.add(event(f"j{i}"))) for i in range(3)]
    await asyncio.sleep(0.05)
    assert not any(t.done() for t in adds) and sink.rows() == []
    sink.gate.set()
    await asyncio.wait_for(asyncio.gather(*adds), 5)
    assert len(sink.rows()) == 3


async def test_an_outage_holds_the_batch_and_writes_it_once_when_back() -> None:
    sink = FakeSink(down_for=4)
    b = batcher(sink)
    await asyncio.wait_for(asyncio.gather(*(b.add(event(f"j{i}")) for i in range(3))), 5)
    assert sink.down_for == 0 and sink.batches == [["j0", "j1", "j2"]]


async def test_a_refused_event_is_dead_lettered_alone() -> None:
    sink = FakeSink(refuse=frozenset({"bad"}))
    b = batcher(sink)
    results = await asyncio.wait_for(asyncio.gather(
        b.add(event("ok1")), b.add(event("bad")), b.add(event("ok2")), return_exceptions=True), 5)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], Permanent)
    assert sorted(e.job_id for e in sink.rows()) == ["ok1", "ok2"]


async def test_one_cancelled_caller_does_not_cancel_its_batch() -> None:
    sink = FakeSink()
    sink.gate.clear()
    b = batcher(sink)
    adds = [asyncio.create_task(b.add(event(f"j{i}"))) for i in range(3)]
    await asyncio.sleep(0.01)
    adds[0].cancel()
    sink.gate.set()
    await asyncio.wait_for(asyncio.gather(*adds[1:]), 5)
    assert len(sink.rows()) == 3


async def test_close_flushes_what_is_pending_then_refuses_more() -> None:
    sink = FakeSink()
    b = batcher(sink, max_size=100)
    pending = asyncio.create_task(b.add(event("last")))
    await asyncio.sleep(0.01)
    await b.close(grace_s=5)
    await asyncio.wait_for(pending, 5)
    assert [e.job_id for e in sink.rows()] == ["last"]
    with pytest.raises(Unavailable):
        await b.add(event("late"))


async def test_close_during_an_outage_leaves_the_events_unacknowledged() -> None:
    sink = FakeSink(down_for=10_000)
    b = batcher(sink, max_size=100)
    pending = asyncio.create_task(b.add(event("held")))
    await asyncio.sleep(0.01)
    await b.close(grace_s=0.05)
    with pytest.raises(Unavailable):
        await asyncio.wait_for(pending, 5)
    assert sink.rows() == []
