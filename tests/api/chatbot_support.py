"""The API served by uvicorn on a loopback port with the real chatbot wiring: turns are
`chatbot` jobs through the lifecycle, on two published chatbot bridges (`support`,
`sales`) whose model is answered by the provider simulator (`sim: <last user message>`),
so a test can read what each model call carried (`api.received()`)."""

from __future__ import annotations

import atexit
import functools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt

from api.app import create_app
from config import ChatbotSettings
from services.providers.simulator.server import RunningSimulator, start_simulator_thread
from tests.backends import context, new_key
from tests.chat_support import TEST_KEY, chat_settings
from tests.serving import serve


@functools.cache
def simulator() -> RunningSimulator:
    """One simulator for every chatbot API test (each uses its own model names)."""
    running = start_simulator_thread()
    atexit.register(running.stop_blocking)
    return running


@dataclass
class ChatbotApi:
    url: str
    client: httpx.AsyncClient
    org_a: dict[str, str]
    org_b: dict[str, str]
    sim: RunningSimulator
    # The model of the `support` bridge (unique per test).
    model: str

    async def received(self) -> list[dict[str, Any]]:
        """The request bodies the `support` bridge's model got, oldest first."""
        return await self.sim.received(self.model)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/api/v1/chatbot/ws"

    async def secret(self, org: dict[str, str] | None = None) -> str:
        response = await self.client.post("/api/v1/chatbot/secret", headers=org or self.org_a)
        assert response.status_code == 201, response.text
        secret: str = response.json()["secret"]
        return secret

    async def turn(self, headers: dict[str, str], content: str, *, bridge: str = "support",
                   thread_id: str | None = None) -> httpx.Response:
        return await self.client.post(f"/api/v1/chatbot/{bridge}/messages", headers=headers,
                                      json={"content": content, "thread_id": thread_id})


def user_token(secret: str, org: str = "org-a", sub: str = "ada", bridges: list[str] | None = None,
               ttl: float = 300) -> str:
    claims = {"org": org, "sub": sub, "bridges": bridges or ["support"], "exp": int(time.time() + ttl)}
    return jwt.encode(claims, secret, algorithm="HS256")


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


async def publish_bridge(client: httpx.AsyncClient, headers: dict[str, str], slug: str, model: str,
                         **spec: Any) -> None:
    """A chatbot bridge answered by the simulator's OpenAI-compatible `vllm` route."""
    made = await client.post("/api/v1/config/bridges", headers=headers, json={
        "name": slug, "slug": slug, "type": "chatbot", "provider": "vllm", "model": model, **spec})
    assert made.status_code == 201, made.text
    published = await client.post(f"/api/v1/config/bridges/{made.json()['id']}/publish", headers=headers)
    assert published.status_code == 201, published.text


@asynccontextmanager
async def chatbot_api(unique: str, data_dir: Path, *, backend: str = "embedded",
                      **chatbot: Any) -> AsyncIterator[ChatbotApi]:
    """`backend="real"`: RabbitMQ and Redis (turn order, job records) are the real ones."""
    sim = simulator()
    settings = chat_settings(backend, unique, data_dir, sim_url=sim.url)
    # An OpenAI-compatible service takes any model name: one per test keeps tests apart.
    providers = settings.providers.model_copy(update={"openai_compatible": {"vllm": f"{sim.url}/vllm/v1"}})
    settings = settings.model_copy(update={"chatbot": ChatbotSettings(**chatbot), "providers": providers})
    async with context(settings) as ctx:
        for org in ("org-a", "org-b"):
            await ctx.credentials.put(org, "vllm", TEST_KEY)
        app = create_app(settings, ctx=ctx)
        async with app.router.lifespan_context(app):
            async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
                org_a, org_b = await new_key(ctx, "org-a"), await new_key(ctx, "org-b")
                model = f"support-{unique}"
                await publish_bridge(client, org_a, "support", model)
                await publish_bridge(client, org_a, "sales", f"sales-{unique}")
                yield ChatbotApi(url, client, org_a, org_b, sim, model)
