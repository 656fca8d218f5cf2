"""A bridge's moderation step, run by the job lifecycle on every path: the moderation model
is called through the provider path (the simulator answers `{"flagged": ...}`, flagged when
the text says "flag me"); flagged content fails the job with 422 `content_flagged` and never
reaches the bridge's model; a failing moderation call blocks or allows as the policy says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.providers.simulator.server import RunningSimulator
from tests.api.governance.support import create_bridge, finished, served_with_sim
from tests.sim_fixtures import sim, sim_server  # noqa: F401

MAIN, MODERATOR = "gpt-4o-mini", "gpt-4.1-nano"
RUN = "/api/v2/model/chat/completion"


def moderation(model: str = MODERATOR, on_failure: str = "block") -> dict[str, Any]:
    return {"moderation": {"provider": "openai", "model": model, "on_failure": on_failure}}


def calls(server: RunningSimulator, model: str) -> list[str]:
    """The last user text of every request `model` received."""
    assert server.state is not None
    return [body["messages"][-1]["content"] for body in server.state.received.get(model, [])]


async def test_clean_content_runs_and_flagged_content_is_refused_on_every_path(
    sim: RunningSimulator, unique: str, tmp_path: Path,  # noqa: F811
) -> None:
    async with served_with_sim(sim, unique, tmp_path) as (_, client, key):
        bridge = await create_bridge(client, key, slug="moderated", guardrails=moderation())
        chatbot = await create_bridge(client, key, name="Bot", slug="moderated-bot", type="chatbot",
                                      guardrails=moderation())

        clean = await client.post(RUN, headers=key, json={"bridge_id": bridge, "user": "hello there"})
        assert clean.status_code == 200, clean.text
        assert calls(sim, MODERATOR) == ["hello there"] and calls(sim, MAIN) == ["hello there"]
        assert sim.state is not None
        assert sim.state.received[MODERATOR][-1]["response_format"]["type"] == "json_schema"

        # Inline sync.
        flagged = await client.post(RUN, headers=key, json={"bridge_id": bridge, "user": "please FLAG ME now"})
        assert flagged.status_code == 422, flagged.text
        assert flagged.json()["error"]["code"] == "content_flagged"
        # Streamed (OpenAI-compatible, stream: true): refused before the first byte.
        streamed = await client.post("/v1/chat/completions", headers=key, json={
            "model": "bridge/moderated", "stream": True,
            "messages": [{"role": "user", "content": "stream flag me"}]})
        assert streamed.status_code == 422 and streamed.json()["error"]["code"] == "content_flagged"
        # Queued: the job fails.
        queued = await client.post(RUN, headers=key, json={"bridge_id": bridge, "user": "queued flag me",
                                                           "response_format": {"type": "async"}})
        assert queued.status_code == 202, queued.text
        job = await finished(client, key, queued.json()["id"])
        assert job["status"] == "failed" and job["error"]["code"] == "content_flagged"
        # A chatbot turn (queued through its thread).
        turn = await client.post(RUN, headers=key, json={"bridge_id": chatbot, "user": "turn flag me",
                                                         "response_format": {"type": "async"}})
        assert turn.status_code == 202, turn.text
        job = await finished(client, key, turn.json()["id"])
        assert job["status"] == "failed" and job["error"]["code"] == "content_flagged"

        assert calls(sim, MODERATOR) == ["hello there", "please FLAG ME now", "stream flag me",
                                         "queued flag me", "turn flag me"]
        assert calls(sim, MAIN) == ["hello there"]  # nothing flagged reached the bridge's model


async def test_a_failing_moderation_call_blocks_or_allows_as_the_policy_says(
    sim: RunningSimulator, unique: str, tmp_path: Path,  # noqa: F811
) -> None:
    async with served_with_sim(sim, unique, tmp_path) as (_, client, key):
        broken = "sim-fail-500"  # the simulator answers 500 to every call of this model
        blocking = await create_bridge(client, key, slug="blocks", guardrails=moderation(broken, "block"))
        allowing = await create_bridge(client, key, slug="allows", guardrails=moderation(broken, "allow"))

        blocked = await client.post(RUN, headers=key, json={"bridge_id": blocking, "user": "blocked run"})
        assert blocked.status_code == 503, blocked.text
        assert blocked.json()["error"]["code"] == "moderation_unavailable"
        queued = await client.post(RUN, headers=key, json={"bridge_id": blocking, "user": "blocked queued",
                                                           "response_format": {"type": "async"}})
        job = await finished(client, key, queued.json()["id"])
        assert job["status"] == "failed" and job["error"]["code"] == "moderation_unavailable"

        allowed = await client.post(RUN, headers=key, json={"bridge_id": allowing, "user": "allowed run"})
        assert allowed.status_code == 200, allowed.text
        assert allowed.json()["result"]["content"] == "sim: allowed run"
        assert len(calls(sim, broken)) >= 3  # each run really asked the moderation model
        assert calls(sim, MAIN) == ["allowed run"]
