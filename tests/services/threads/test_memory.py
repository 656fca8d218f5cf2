"""Token counting and the history window."""

from __future__ import annotations

from services.bridges.model import MemoryPolicy
from services.providers.types import ContentPart, Message
from services.threads.memory import HistoryAssembler
from services.threads.memory_store import MemoryThreadStore
from services.threads.model import Thread, ThreadMessage
from services.threads.tokens import CHARS_PER_TOKEN, IMAGE_TOKENS, MESSAGE_OVERHEAD
from tests.services.threads.support import counter


def test_openai_models_are_counted_with_tiktoken_and_others_estimated() -> None:
    tokens = counter()
    # cl100k_base splits "hello world" into exactly 2 tokens; the estimate would say 3.
    assert tokens.text("hello world", provider="openai", model="gpt-4o") == 2
    assert tokens.text("hello world", provider="openrouter", model="openai/gpt-4.1") == 2
    assert tokens.text("hello world", provider="anthropic", model="claude-sonnet-4") == 3
    image = Message(role="user", content=[ContentPart(type="text", text="abcd"),
                                          ContentPart(type="image_url", image_url="data:,")])
    expected = MESSAGE_OVERHEAD + IMAGE_TOKENS + 4 // CHARS_PER_TOKEN
    assert tokens.message(image, provider="mistral", model="m") == expected


async def test_the_window_keeps_whole_turns_newest_first_within_the_budget() -> None:
    store = MemoryThreadStore()
    thread = Thread(org_id="o", bridge_id="b")
    await store.create_thread(thread)
    for turn in range(1, 5):
        await store.append("o", thread.id, [
            ThreadMessage.of(Message(role=role, content=text * 40),  # type: ignore[arg-type]
                             thread=thread, job_id=f"j{turn}", turn=turn, seq=i)
            for i, (role, text) in enumerate((("user", "x"), ("assistant", "y")))])
    thread = await store.get_thread("o", thread.id)  # type: ignore[assignment]
    assembler = HistoryAssembler(store, counter())
    per_turn = 2 * (MESSAGE_OVERHEAD + 40 // CHARS_PER_TOKEN)  # 28 tokens
    history = await assembler.assemble(thread, MemoryPolicy(max_history_tokens=2 * per_turn + 5),
                                       provider="mock", model="m")
    assert [m.content for m in history.messages] == ["x" * 40, "y" * 40] * 2
    assert (history.tokens, history.omitted_through) == (2 * per_turn, 2)
    everything = await assembler.assemble(thread, MemoryPolicy(), provider="mock", model="m")
    assert len(everything.messages) == 8 and everything.omitted_through == 0
    # max_messages cuts what is read; a turn the read may have split is left out whole.
    capped = await assembler.assemble(thread, MemoryPolicy(max_messages=3), provider="mock", model="m")
    assert len(capped.messages) == 2 and capped.omitted_through == 3
