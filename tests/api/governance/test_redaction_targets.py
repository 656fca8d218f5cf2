"""Where a bridge's PII redaction applies (`redact_in`): what the provider simulator
receives, and what the job record keeps (GET /api/v1/jobs/{id} for the result, the job
store for the request), inline and queued, for each of provider / record / both."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.providers.simulator.server import RunningSimulator
from tests.api.governance.support import create_bridge, finished, served_with_sim
from tests.sim_fixtures import sim, sim_server  # noqa: F401

PROMPT = "write to ada@example.com about card 4111 1111 1111 1111"
REDACTED = "write to [EMAIL] about card [CARD]"
TARGETS = {"provider": ["provider"], "record": ["record"], "both": ["provider", "record"]}


@pytest.mark.parametrize("target", list(TARGETS))
async def test_each_target_redacts_the_provider_the_record_or_both(
    target: str, sim: RunningSimulator, unique: str, tmp_path: Path,  # noqa: F811
) -> None:
    assert sim.state is not None
    to_provider = PROMPT if target == "record" else REDACTED
    in_record = PROMPT if target == "provider" else REDACTED
    async with served_with_sim(sim, unique, tmp_path, pools=("model",)) as (ctx, client, key):
        bridge = await create_bridge(client, key, guardrails={"redact": ["email", "card"],
                                                              "redact_in": TARGETS[target]})
        for delivery in ("default", "async"):
            run = await client.post("/api/v2/model/chat/completion", headers=key, json={
                "bridge_id": bridge, "user": PROMPT, "response_format": {"type": delivery}})
            assert run.status_code in (200, 202), run.text
            job = await finished(client, key, run.json()["id"])
            assert job["status"] == "succeeded", job

            assert sim.state.last["openai"]["messages"][-1]["content"] == to_provider, delivery
            # The simulator echoes what it received: the redacted prompt (provider, both), or
            # the original, which the record then keeps redacted (record).
            assert job["result"]["content"] == f"sim: {REDACTED}", delivery
            stored = await ctx.jobs.get(job["id"])
            assert stored is not None
            assert stored.request["messages"][-1]["content"] == in_record, delivery


@pytest.mark.parametrize("target", list(TARGETS))
async def test_a_chatbot_thread_keeps_its_messages_redacted_whatever_the_target(
    target: str, sim: RunningSimulator, unique: str, tmp_path: Path,  # noqa: F811
) -> None:
    """The thread is read back over the API and fed to later turns: it never keeps the PII,
    while the provider is sent the original exactly when the target is `record` alone."""
    assert sim.state is not None
    to_provider = PROMPT if target == "record" else REDACTED
    async with served_with_sim(sim, unique, tmp_path) as (_, client, key):
        await create_bridge(client, key, slug="guarded", type="chatbot",
                            guardrails={"redact": ["email", "card"], "redact_in": TARGETS[target]})
        turn = await client.post("/api/v1/chatbot/guarded/messages", headers=key, json={"content": PROMPT})
        assert turn.status_code == 200, turn.text
        assert sim.state.last["openai"]["messages"][-1]["content"] == to_provider
        thread_id = turn.json()["thread_id"]
        listed = await client.get(f"/api/v1/threads/{thread_id}/messages", headers=key)
        assert [(m["role"], m["content"]) for m in listed.json()["data"]] == [
            ("user", REDACTED), ("assistant", f"sim: {REDACTED}")]
        assert turn.json()["result"]["content"] == f"sim: {REDACTED}"


async def test_a_queued_job_ending_without_running_keeps_no_original(
    sim: RunningSimulator, unique: str, tmp_path: Path,  # noqa: F811
) -> None:
    """With `record` alone a queued job keeps the original for its worker; cancelled or
    dead-lettered before it runs, its record is redacted all the same."""
    async with served_with_sim(sim, unique, tmp_path, pools=("chatbot",)) as (ctx, client, key):
        bridge = await create_bridge(client, key, guardrails={"redact": ["email", "card"], "redact_in": ["record"]})
        ids = []
        for _ in range(2):
            run = await client.post("/api/v2/model/chat/completion", headers=key, json={
                "bridge_id": bridge, "user": PROMPT, "response_format": {"type": "async"}})
            assert run.status_code == 202, run.text
            ids.append(run.json()["id"])
        waiting = await ctx.jobs.get(ids[0])
        assert waiting is not None and waiting.request["messages"][-1]["content"] == PROMPT

        assert (await client.post(f"/api/v1/jobs/{ids[0]}/cancel", headers=key)).status_code == 200
        await ctx.lifecycle.dead_letter(ids[1])
        for job_id, status in zip(ids, ("cancelled", "failed"), strict=True):
            stored = await ctx.jobs.get(job_id)
            assert stored is not None and stored.status.value == status
            assert stored.request["messages"][-1]["content"] == REDACTED, status
