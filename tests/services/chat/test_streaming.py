"""Streaming through the executor: inline (`stream_chat`) and a queued stream job through
the lifecycle (its chunks land in the job's event log)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.context import Context
from services.errors import Permanent
from services.jobs.executor import StreamEvent
from services.jobs.messages import JobMessage
from services.jobs.model import Job, JobKind
from services.jobs.stream_store import CHUNK, END
from services.providers.simulator.server import RunningSimulator
from tests.chat_support import chat_context, chat_settings, payload, stream_chat, upstream_calls
from tests.services.chat.tool_server import tool_server


async def _collect(ctx: Context, body: dict[str, Any]) -> list[StreamEvent]:
    return [event async for event in stream_chat(ctx, body, org_id="org-a")]


def _text(events: list[StreamEvent]) -> str:
    return "".join(e.data["delta"] for e in events if e.event == "chunk")


@pytest.mark.parametrize("provider", ["openai", "anthropic", "mistral"])
async def test_stream_then_replay_from_the_cache(
    sim: RunningSimulator, unique: str, tmp_path: Path, provider: str
) -> None:
    model = f"stream-{unique}"
    settings = chat_settings("embedded", unique, tmp_path, sim_url=sim.url)
    body = payload("hello streaming world", provider=provider, model=model, stream=True)
    async with chat_context(settings) as ctx:
        first = await _collect(ctx, body)
        again = await _collect(ctx, body)
    assert len([e for e in first if e.event == "chunk"]) >= 3
    assert _text(first) == "sim: hello streaming world"
    done = first[-1]
    assert done.event == "done" and done.data["content"] == _text(first)
    assert done.data["cache"] == "miss" and done.data["usage"]["output_tokens"] == 4
    assert (again[-1].data["cache"], _text(again)) == ("hit", _text(first))
    assert await upstream_calls(sim, model) == 1


async def test_stream_falls_back_before_the_first_chunk(
    sim: RunningSimulator, unique: str, tmp_path: Path
) -> None:
    settings = chat_settings("embedded", unique, tmp_path, sim_url=sim.url,
                             resilience={"retry_attempts": 1})
    body = payload(model=f"sim-fail-503-{unique}", stream=True, cache=False,
                   fallbacks=[{"provider": "groq", "model": f"b-{unique}"}])
    async with chat_context(settings) as ctx:
        events = await _collect(ctx, body)
    assert _text(events) == "sim: hello"
    done = events[-1].data
    assert done["provider"] == "groq"
    assert [(a["provider"], a["outcome"]) for a in done["attempts"]] == [
        ("openai", "error"), ("groq", "ok")]


async def test_a_stream_that_breaks_off_is_final(
    sim: RunningSimulator, unique: str, tmp_path: Path
) -> None:
    model = f"sim-truncate-{unique}"
    settings = chat_settings("embedded", unique, tmp_path, sim_url=sim.url)
    seen: list[StreamEvent] = []
    async with chat_context(settings) as ctx:
        with pytest.raises(Permanent) as caught:
            async for event in stream_chat(ctx, payload("one two three four five six",
                                                        model=model, stream=True), org_id="o"):
                seen.append(event)
    assert caught.value.code == "stream_interrupted"
    assert seen and all(e.event == "chunk" for e in seen)
    assert await upstream_calls(sim, model) == 1  # chunks were out: no retry


async def test_streamed_tool_round(sim: RunningSimulator, unique: str, tmp_path: Path) -> None:
    settings = chat_settings("embedded", unique, tmp_path, sim_url=sim.url)
    async with tool_server() as tools, chat_context(settings) as ctx:
        events = await _collect(ctx, payload("use tool weather", model=f"t-{unique}", stream=True,
                                             tools=[{"name": "weather",
                                                     "url": f"{tools.url}/weather"}]))
        assert tools.hits("/weather") == 1
    assert any(e.data.get("tool_calls") for e in events if e.event == "chunk")
    done = events[-1].data
    assert done["content"].startswith("sim: tool result:") and done["tool_rounds"] == 1


async def test_queued_stream_job_writes_its_chunks_to_the_job_log(
    sim: RunningSimulator, unique: str, tmp_path: Path
) -> None:
    settings = chat_settings("embedded", unique, tmp_path, sim_url=sim.url)
    async with chat_context(settings) as ctx:
        job = Job(org_id="org-a", kind=JobKind.MODEL,
                  request=payload("to the log", model=f"log-{unique}", stream=True))
        await ctx.jobs.create(job)
        await ctx.lifecycle.run_message(JobMessage(job_id=job.id, org_id="org-a", kind=job.kind),
                                        redelivered=False)
        entries = await ctx.streams.read(job.id, None)
        done = await ctx.jobs.get(job.id)
    assert done is not None and done.result is not None
    assert [e.event for e in entries][-1] == END  # the lifecycle marks the end for SSE readers
    chunks = [e for e in entries if e.event == CHUNK]
    assert "".join(e.data["delta"] for e in chunks) == "sim: to the log" == done.result["content"]
    meta = done.meta
    assert (meta["provider"], meta["cache"]) == ("openai", "miss")
    assert [a["outcome"] for a in meta["attempts"]] == ["ok"]
