"""One suite, every thread store adapter: what passes here behaves the same in production."""

from __future__ import annotations

import asyncio

from services.providers.types import Message, ToolCall
from services.threads.model import Thread, ThreadMessage
from tests.services.threads.conftest import Adapter

ORG_A, ORG_B = "org_a", "org_b"


def turn(thread: Thread, n: int, job: str, *texts: str) -> list[ThreadMessage]:
    roles = ["user", "assistant"]
    return [ThreadMessage.of(Message(role=roles[i % 2], content=t), thread=thread, job_id=job, turn=n, seq=i)  # type: ignore[arg-type]
            for i, t in enumerate(texts)]


async def new_thread(adapter: Adapter, org: str = ORG_A, **kw: object) -> Thread:
    thread = Thread(org_id=org, bridge_id=str(kw.pop("bridge_id", "br_1")), **kw)  # type: ignore[arg-type]
    await adapter.store.create_thread(thread)
    return thread


async def test_thread_round_trip_is_org_scoped(adapter: Adapter) -> None:
    thread = await new_thread(adapter, end_user="u1", title="Billing", metadata={"plan": "pro"})
    found = await adapter.store.get_thread(ORG_A, thread.id)
    assert found is not None and (found.end_user, found.title, found.metadata) == ("u1", "Billing", {"plan": "pro"})
    assert await adapter.store.get_thread(ORG_B, thread.id) is None
    assert await adapter.store.update_thread(ORG_B, thread.id, {"title": "stolen"}) is None
    assert not await adapter.store.delete_thread(ORG_B, thread.id)
    assert (await adapter.store.list_messages(ORG_B, thread.id, limit=10)).items == []


async def test_append_is_idempotent_on_thread_job_and_seq(adapter: Adapter) -> None:
    thread = await new_thread(adapter)
    first = turn(thread, 1, "job_1", "hello", "hi there")
    assert await adapter.store.append(ORG_A, thread.id, first) == 2
    # A redelivered job appends the same turn again (fresh message ids): nothing is added.
    again = turn(thread, 1, "job_1", "hello", "hi there")
    assert await adapter.store.append(ORG_A, thread.id, again) == 0
    results = await asyncio.gather(*(adapter.store.append(ORG_A, thread.id, turn(thread, 2, "job_2", "q", "a"))
                                     for _ in range(5)))
    assert sum(results) == 2
    page = await adapter.store.list_messages(ORG_A, thread.id, limit=50)
    assert [(m.turn, m.seq, m.content) for m in page.items] == [
        (1, 0, "hello"), (1, 1, "hi there"), (2, 0, "q"), (2, 1, "a")]
    stored = await adapter.store.get_thread(ORG_A, thread.id)
    assert stored is not None and stored.last_turn == 2


async def test_append_to_another_orgs_thread_is_not_found(adapter: Adapter) -> None:
    thread = await new_thread(adapter)
    try:
        await adapter.store.append(ORG_B, thread.id, turn(thread, 1, "job_x", "sneak"))
    except Exception as exc:
        assert getattr(exc, "status", None) == 404
    else:
        raise AssertionError("appending to another org's thread must fail")
    assert (await adapter.store.list_messages(ORG_A, thread.id, limit=5)).items == []


async def test_messages_page_in_turn_order_and_recent_reads_newest_first(adapter: Adapter) -> None:
    thread = await new_thread(adapter)
    for n in range(1, 6):
        await adapter.store.append(ORG_A, thread.id, turn(thread, n, f"job_{n}", f"q{n}", f"a{n}"))
    seen: list[str] = []
    cursor = None
    while True:
        page = await adapter.store.list_messages(ORG_A, thread.id, limit=3, cursor=cursor)
        seen += [str(m.content) for m in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ["q1", "a1", "q2", "a2", "q3", "a3", "q4", "a4", "q5", "a5"]
    recent = await adapter.store.recent_messages(ORG_A, thread.id, limit=3, before_turn=5)
    assert [m.content for m in recent] == ["a4", "q4", "a3"]
    assert [m.content for m in await adapter.store.turn_messages(ORG_A, thread.id, 2)] == ["q2", "a2"]


async def test_tool_calls_and_results_survive_a_reopen(adapter: Adapter) -> None:
    thread = await new_thread(adapter)
    call = ToolCall(id="call_1", name="lookup", arguments='{"order": 7}')
    await adapter.store.append(ORG_A, thread.id, [
        ThreadMessage.of(Message(role="assistant", tool_calls=[call]), thread=thread, job_id="j1", turn=1, seq=1),
        ThreadMessage.of(Message(role="tool", tool_call_id="call_1", content="shipped"),
                         thread=thread, job_id="j2", turn=2, seq=0),
    ])
    again = await adapter.reopen()
    messages = (await again.list_messages(ORG_A, thread.id, limit=10)).items
    assert messages[0].tool_calls == [call] and messages[0].as_message().role == "assistant"
    assert (messages[1].role, messages[1].tool_call_id, messages[1].content) == ("tool", "call_1", "shipped")


async def test_threads_list_newest_first_filtered_by_bridge_and_user(adapter: Adapter) -> None:
    made = [await new_thread(adapter, bridge_id=b, end_user=u)
            for b, u in [("br_1", "u1"), ("br_1", "u2"), ("br_2", "u1"), ("br_1", "u1")]]
    await new_thread(adapter, ORG_B, bridge_id="br_1", end_user="u1")
    everything = await adapter.store.list_threads(ORG_A, limit=10)
    assert [t.id for t in everything.items] == [t.id for t in reversed(made)]
    mine = await adapter.store.list_threads(ORG_A, bridge_id="br_1", end_user="u1", limit=1)
    assert [t.id for t in mine.items] == [made[3].id] and mine.next_cursor
    rest = await adapter.store.list_threads(ORG_A, bridge_id="br_1", end_user="u1", limit=1, cursor=mine.next_cursor)
    assert [t.id for t in rest.items] == [made[0].id] and rest.next_cursor is None


async def test_update_and_delete_erase_messages(adapter: Adapter) -> None:
    thread = await new_thread(adapter)
    await adapter.store.append(ORG_A, thread.id, turn(thread, 1, "job_1", "secret question", "answer"))
    updated = await adapter.store.update_thread(ORG_A, thread.id, {"title": "Renamed", "metadata": {"k": 1},
                                                                    "org_id": ORG_B})
    assert updated is not None and (updated.title, updated.metadata, updated.org_id) == ("Renamed", {"k": 1}, ORG_A)
    assert await adapter.store.delete_thread(ORG_A, thread.id)
    assert await adapter.store.get_thread(ORG_A, thread.id) is None
    assert await adapter.store.turn_messages(ORG_A, thread.id, 1) == []
    again = await adapter.reopen()
    assert await again.get_thread(ORG_A, thread.id) is None


async def test_summary_is_compare_and_set(adapter: Adapter) -> None:
    thread = await new_thread(adapter)
    assert await adapter.store.set_summary(ORG_A, thread.id, "they said hi", through=3, expected_through=0)
    assert not await adapter.store.set_summary(ORG_A, thread.id, "stale", through=2, expected_through=0)
    assert not await adapter.store.set_summary(ORG_B, thread.id, "other org", through=9, expected_through=3)
    stored = await adapter.store.get_thread(ORG_A, thread.id)
    assert stored is not None and (stored.summary, stored.summary_through) == ("they said hi", 3)
