"""One contract, two job stores: dicts with TTL and Redis with Lua must agree."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from services.jobs.model import CANCEL_FROM, FINISH_FROM, START_FROM, Job, JobKind, JobStatus
from services.jobs.store import JobStore
from tests.backends import BACKENDS, context, make_settings


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, unique: str, tmp_path) -> AsyncIterator[JobStore]:
    async with context(make_settings(request.param, unique, tmp_path)) as ctx:
        yield ctx.jobs


def job(org: str = "org-a", **kw) -> Job:
    return Job(org_id=org, kind=kw.pop("kind", JobKind.MODEL), request={"messages": []}, **kw)


async def test_create_then_get_round_trips_every_field(store: JobStore) -> None:
    original = job(meta={"bridge": {"id": "b1"}, "attempts": []})
    assert (await store.create(original)).created
    loaded = await store.get(original.id)
    assert loaded == original
    assert await store.get("job_missing") is None


async def test_idempotency_same_body_returns_original_and_other_body_conflicts(store: JobStore) -> None:
    first = job(idempotency_key="k-1")
    assert (await store.create(first, body_hash="h1")).created
    again = await store.create(job(idempotency_key="k-1"), body_hash="h1")
    assert not again.created and not again.conflict and again.job.id == first.id
    other = await store.create(job(idempotency_key="k-1"), body_hash="h2")
    assert other.conflict and other.job.id == first.id
    # The same key in another org is another job.
    assert (await store.create(job("org-b", idempotency_key="k-1"), body_hash="h1")).created
    await store.release_idempotency("org-a", "k-1")
    assert (await store.create(job(idempotency_key="k-1"), body_hash="h2")).created


async def test_transition_is_compare_and_set(store: JobStore) -> None:
    j = job()
    await store.create(j)
    started = await store.transition(j.id, START_FROM, JobStatus.RUNNING, {"started_at": 5.0},
                                     count_attempt=True)
    assert started and started.status == JobStatus.RUNNING and started.attempts == 1
    assert started.started_at == 5.0
    done = await store.transition(j.id, FINISH_FROM, JobStatus.SUCCEEDED, {"result": {"content": "x"}})
    assert done and done.result == {"content": "x"}
    # A second finish (a redelivered message) is refused: no job completes twice.
    assert await store.transition(j.id, FINISH_FROM, JobStatus.FAILED) is None
    assert await store.transition(j.id, CANCEL_FROM, JobStatus.CANCELLED) is None
    final = await store.get(j.id)
    assert final and final.status == JobStatus.SUCCEEDED and final.result == {"content": "x"}
    assert await store.transition("job_missing", START_FROM, JobStatus.RUNNING) is None


async def test_concurrent_finishes_let_exactly_one_win(store: JobStore) -> None:
    j = job()
    await store.create(j)
    await store.transition(j.id, START_FROM, JobStatus.RUNNING)
    results = await asyncio.gather(*(
        store.transition(j.id, FINISH_FROM, JobStatus.SUCCEEDED, {"result": {"n": i}}) for i in range(20)
    ))
    assert sum(r is not None for r in results) == 1


async def test_wait_wakes_on_the_terminal_transition(store: JobStore) -> None:
    j = job()
    await store.create(j)
    waiter = asyncio.create_task(store.wait(j.id, 10))
    await asyncio.sleep(0.1)
    assert not waiter.done()
    await store.transition(j.id, START_FROM, JobStatus.RUNNING)
    await asyncio.sleep(0.1)
    assert not waiter.done()  # running is not an end
    await store.transition(j.id, FINISH_FROM, JobStatus.SUCCEEDED)
    finished = await asyncio.wait_for(waiter, 5)
    assert finished and finished.status == JobStatus.SUCCEEDED


async def test_wait_times_out_with_the_current_state(store: JobStore) -> None:
    j = job()
    await store.create(j)
    current = await store.wait(j.id, 0.2)
    assert current and current.status == JobStatus.QUEUED


async def test_list_filters_scopes_and_paginates(store: JobStore) -> None:
    made = []
    now = time.time()
    for i in range(7):
        j = job(kind=JobKind.CHATBOT if i % 2 else JobKind.MODEL, created_at=now - 100 + i)
        await store.create(j)
        made.append(j)
    await store.create(job("org-b", created_at=now))
    await store.transition(made[0].id, CANCEL_FROM, JobStatus.CANCELLED)

    seen: list[str] = []
    cursor = None
    while True:
        page = await store.list("org-a", limit=3, cursor=cursor)
        seen += [j.id for j in page.jobs]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [j.id for j in reversed(made)]  # newest first, no repeats, no org-b

    chatbots = await store.list("org-a", kind=JobKind.CHATBOT)
    assert {j.id for j in chatbots.jobs} == {made[i].id for i in (1, 3, 5)}
    cancelled = await store.list("org-a", status=JobStatus.CANCELLED)
    assert [j.id for j in cancelled.jobs] == [made[0].id]


async def test_update_meta_merges(store: JobStore) -> None:
    j = job(meta={"a": 1})
    await store.create(j)
    await store.update_meta(j.id, {"b": 2})
    loaded = await store.get(j.id)
    assert loaded and loaded.meta == {"a": 1, "b": 2}
