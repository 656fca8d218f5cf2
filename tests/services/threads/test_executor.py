"""The chatbot executor: each turn sees the conversation so far, turns run in submission
order, and a redelivered or retried job never duplicates a message."""

from __future__ import annotations

import asyncio

import pytest

from services.bridges.model import MemoryPolicy
from services.errors import Permanent, Retryable
from services.jobs.executor import RunAttempts
from services.threads.order_store import NotYourTurn
from services.threads.summary import BackgroundSummaries
from tests.services.threads.support import harness


async def _contents(h: object) -> list[str]:
    page = await h.store.list_messages("org_a", h.thread.id, limit=100)  # type: ignore[attr-defined]
    return [str(m.content) for m in page.items]


async def test_each_turn_sees_the_conversation_so_far() -> None:
    h = await harness()
    for text in ("my name is Ada", "I like tea", "what is my name?"):
        outcome = await h.run(*await h.submit(text))
    last = h.completer.seen[-1]
    assert [m.content for m in last.messages] == [
        "my name is Ada", "answer to my name is Ada", "I like tea", "answer to I like tea", "what is my name?"]
    assert last.system == "You are helpful."
    assert outcome.extra["thread_id"] == h.thread.id and outcome.extra["turn"] == 3
    assert await _contents(h) == [m.content for m in last.messages] + ["answer to what is my name?"]


async def test_a_redelivered_job_appends_nothing_and_does_not_call_the_model_again() -> None:
    h = await harness()
    job, payload = await h.submit("hello")
    first = await h.run(job, payload)
    again = await h.run(job, payload)
    assert again.result["content"] == first.result["content"] == "answer to hello"
    assert again.extra["replayed"] is True
    assert len(h.completer.seen) == 1
    assert await _contents(h) == ["hello", "answer to hello"]


async def test_a_later_turn_waits_for_the_earlier_one_without_failing() -> None:
    h = await harness()
    first, second = await h.submit("one"), await h.submit("two")
    with pytest.raises(NotYourTurn) as waited:
        await h.run(*second)
    assert isinstance(waited.value, Retryable) and waited.value.retry_after_s == 0.05
    assert await _contents(h) == []  # nothing of turn 2 was written while it waited
    await h.run(*first)
    await h.run(*second)
    assert await _contents(h) == ["one", "answer to one", "two", "answer to two"]


async def test_a_retried_turn_keeps_its_place_and_writes_its_input_once() -> None:
    h = await harness()
    first, second = await h.submit("one"), await h.submit("two")
    h.completer.fail_with.append(Retryable("provider 503"))
    with pytest.raises(Retryable):
        await h.run(*first)
    with pytest.raises(NotYourTurn):
        await h.run(*second)  # the retrying turn still goes first
    await h.run(*first)
    await h.run(*second)
    assert await _contents(h) == ["one", "answer to one", "two", "answer to two"]


async def test_a_failed_turn_lets_the_next_one_run() -> None:
    h = await harness()
    first, second = await h.submit("bad"), await h.submit("good")
    h.completer.fail_with.append(Permanent("content policy"))
    with pytest.raises(Permanent):
        await h.run(*first)
    assert (await h.run(*second)).result["content"] == "answer to good"


async def test_an_abandoned_queued_turn_releases_the_thread() -> None:
    h = await harness()
    first, second = await h.submit("cancelled"), await h.submit("next")
    await h.executor.abandon(first[0])
    assert (await h.run(*second)).result["content"] == "answer to next"
    with pytest.raises(Permanent, match="skipped"):
        await h.run(*first)


async def test_concurrent_workers_run_one_threads_turns_in_submission_order() -> None:
    h = await harness()
    jobs = [await h.submit(f"m{i}") for i in range(8)]

    async def worker(job: object, payload: object) -> None:
        while True:  # what the runner does with NotYourTurn: requeue after retry_after_s
            try:
                await h.run(job, payload)  # type: ignore[arg-type]
                return
            except NotYourTurn as exc:
                await asyncio.sleep(exc.retry_after_s or 0.01)

    await asyncio.gather(*(worker(*j) for j in reversed(jobs)))
    assert [p.messages[-1].content for p in h.completer.seen] == [f"m{i}" for i in range(8)]
    assert await _contents(h) == [x for i in range(8) for x in (f"m{i}", f"answer to m{i}")]


async def test_old_turns_leave_the_window_and_come_back_as_a_summary() -> None:
    h = await harness()
    policy = MemoryPolicy(max_history_tokens=60)
    for i in range(6):
        await h.run(*await h.submit(f"fact number {i} " + "word " * 10, policy=policy))
    sent = h.completer.seen[-1]
    assert len(sent.messages) < 11 and str(sent.messages[-1].content).startswith("fact number 5")
    assert "Summary" not in (sent.system or "")  # no summary written yet: none sent
    assert h.summaries.requests, "a summary refresh is scheduled after every turn"
    assert await h.refresher.refresh(h.summaries.requests[-1])
    thread = await h.store.get_thread("org_a", h.thread.id)
    assert thread is not None and thread.summary and thread.summary_through >= 1
    summary_call = h.completer.seen[-1]
    assert "fact number 0" in str(summary_call.messages[0].content)
    await h.run(*await h.submit("what do you remember?", policy=policy))
    assert f"Summary of the earlier conversation:\n{thread.summary}" in (h.completer.seen[-1].system or "")


async def test_a_streamed_turn_yields_chunks_and_is_stored_like_a_whole_one() -> None:
    h = await harness()
    await h.run(*await h.submit("first"))
    job, payload = await h.submit("second")
    events = [e async for e in h.executor.stream(job, payload, RunAttempts())]
    assert "".join(e.data["delta"] for e in events if e.event == "chunk").strip() == "answer to second"
    done = events[-1]
    assert done.event == "done" and done.outcome is not None and done.outcome.extra["turn"] == 2
    assert [m.content for m in h.completer.seen[-1].messages] == ["first", "answer to first", "second"]
    replayed = [e async for e in h.executor.stream(job, payload, RunAttempts())]
    assert [e.event for e in replayed] == ["done"] and replayed[0].data["content"] == "answer to second"
    assert await _contents(h) == ["first", "answer to first", "second", "answer to second"]


async def test_background_summaries_run_after_the_turn_and_store_the_summary() -> None:
    h = await harness()
    background = BackgroundSummaries(h.refresher)
    policy = MemoryPolicy(max_history_tokens=40)
    for i in range(4):
        await h.run(*await h.submit(f"note {i} " + "word " * 10, policy=policy))
    background.schedule(h.summaries.requests[-1])
    background.schedule(h.summaries.requests[-1])  # a second request for the same thread is dropped
    await background.aclose()
    thread = await h.store.get_thread("org_a", h.thread.id)
    assert thread is not None and thread.summary and thread.summary.startswith("SUMMARY(")
    assert sum(1 for p in h.completer.seen if p.system and p.system.startswith("You keep the memory")) == 1
