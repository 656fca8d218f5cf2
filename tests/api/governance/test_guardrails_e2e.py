"""A bridge's guardrails through the real run path: the provider simulator receives the
prompt with PII redacted (near misses intact), and a block-listed phrase never reaches it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from api.app import create_app
from services.providers.simulator.server import RunningSimulator
from tests.backends import context, new_key
from tests.chat_support import chat_settings
from tests.sim_fixtures import sim, sim_server  # noqa: F401

PROMPT = ("I am ada@example.com, card 4111 1111 1111 1111, IBAN GB82 WEST 1234 5698 7654 32, "
          "key sk-proj-abcdefghijklmnopqrstuvwx123; order 4111 1111 1111 1112 is not a card")


@asynccontextmanager
async def served(sim: RunningSimulator, unique: str, tmp_path: Path,  # noqa: F811
                 ) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    """The app over ASGI with every provider answered by the simulator; (client, org-a key)."""
    settings = chat_settings("embedded", unique, tmp_path, sim_url=sim.url)
    async with context(settings) as ctx:
        assert ctx.credentials is not None
        await ctx.credentials.put("org-a", "openai", "sk-org-a-openai-key-5150")
        app = create_app(settings, ctx=ctx)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            yield client, await new_key(ctx, "org-a")


async def test_the_provider_receives_the_redacted_prompt(
    sim: RunningSimulator, unique: str, tmp_path: Path,  # noqa: F811
) -> None:
    assert sim.state is not None
    async with served(sim, unique, tmp_path) as (client, key):
        bridge = await client.post("/api/v1/config/bridges", headers=key, json={
            "name": "Support", "provider": "openai", "model": "gpt-4o-mini",
            "system_prompt": "Escalate to ops@example.com.",
            "guardrails": {"redact": ["email", "card", "iban", "secret"], "block_list": ["project falcon"]}})
        assert bridge.status_code == 201, bridge.text
        run = await client.post("/api/v2/model/chat/completion", headers=key,
                                json={"bridge_id": bridge.json()["id"], "user": PROMPT})
        assert run.status_code == 200, run.text
        sent = sim.state.last["openai"]["messages"]
        assert sent[0]["content"] == "Escalate to [EMAIL]."
        assert sent[-1]["content"] == ("I am [EMAIL], card [CARD], IBAN [IBAN], key [SECRET]; "
                                       "order 4111 1111 1111 1112 is not a card")

        before = sim.state.requests
        blocked = await client.post("/api/v2/model/chat/completion", headers=key, json={
            "bridge_id": bridge.json()["id"], "user": "What is Project Falcon?"})
        assert blocked.status_code == 422
        assert blocked.json()["error"]["code"] == "content_blocked"
        assert blocked.json()["error"]["fields"] == [{"field": "messages", "reason": blocked.json()["error"][
            "message"]}]
        assert sim.state.requests == before


async def test_openai_compatible_bridge_runs_apply_its_guardrails_and_limits(
    sim: RunningSimulator, unique: str, tmp_path: Path,  # noqa: F811
) -> None:
    assert sim.state is not None
    async with served(sim, unique, tmp_path) as (client, key):
        created = await client.post("/api/v1/config/bridges", headers=key, json={
            "name": "Compat", "slug": "compat", "provider": "openai", "model": "gpt-4o-mini",
            "guardrails": {"redact": ["phone", "ip"]}, "limits": {"requests_per_minute": 1}})
        assert created.status_code == 201, created.text
        body = {"model": "bridge/compat",
                "messages": [{"role": "user", "content": "call +44 20 7946 0958 from 10.1.2.3"}]}
        first = await client.post("/v1/chat/completions", headers=key, json=body)
        assert first.status_code == 200, first.text
        assert sim.state.last["openai"]["messages"][-1]["content"] == "call [PHONE] from [IP]"
        assert first.headers["RateLimit"].startswith('"bridge-rpm";r=0;')
        second = await client.post("/v1/chat/completions", headers=key, json=body)
        assert second.status_code == 429 and "Retry-After" in second.headers
