"""The API with the chatbot block started, served by uvicorn on a loopback port, with a
simple TurnRunner: the chatbot executor run inline over the real thread store and turn
order, answering through an in-test ChatCompleter (the real lifecycle is wired elsewhere)."""

from __future__ import annotations

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
from services.auth.principal import Principal
from services.jobs.executor import RunAttempts
from services.jobs.model import Job, JobKind
from services.providers.types import Message
from services.threads.executor import ChatbotExecutor, ChatbotJobPayload
from services.threads.memory import HistoryAssembler
from services.threads.service import ThreadService
from services.threads.turns import CHUNK, DONE, THREAD, TurnEvent
from tests.backends import context, make_settings, new_key
from tests.services.threads.support import Queued, RecordingCompleter, counter
from tests.serving import serve


class InlineRunner:
    """open_turn -> the chatbot executor, inline -> the answer word by word."""

    def __init__(self, threads: ThreadService, executor: ChatbotExecutor) -> None:
        self.threads, self.executor = threads, executor

    async def run_turn(self, principal: Principal, bridge: str, thread_id: str | None, message: Message,
                       variables: dict[str, Any]) -> AsyncIterator[TurnEvent]:
        thread, turn = await self.threads.open_turn(principal, bridge, thread_id)
        yield TurnEvent(THREAD, {"thread_id": thread.id, "turn": turn})
        payload = ChatbotJobPayload(thread_id=thread.id, end_user=principal.end_user, turn=turn, messages=[message])
        job = Job(org_id=principal.org_id, kind=JobKind.CHATBOT, request=payload.model_dump(mode="json"))
        outcome = await self.executor.run(job, payload, RunAttempts())
        for word in str(outcome.result["content"]).split(" "):
            yield TurnEvent(CHUNK, {"delta": word + " "})
        yield TurnEvent(DONE, {"result": outcome.result})


@dataclass
class ChatbotApi:
    url: str
    client: httpx.AsyncClient
    org_a: dict[str, str]
    org_b: dict[str, str]
    completer: RecordingCompleter

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


@asynccontextmanager
async def chatbot_api(unique: str, data_dir: Path, *, backend: str = "embedded",
                      **chatbot: Any) -> AsyncIterator[ChatbotApi]:
    """`backend="real"`: the turn order in the real Redis (RabbitMQ is connected, unused)."""
    settings = make_settings(backend, unique, data_dir)
    settings = settings.model_copy(update={"chatbot": ChatbotSettings(**chatbot)})
    async with context(settings) as ctx:
        app = create_app(settings, ctx=ctx)
        async with app.router.lifespan_context(app):
            threads: ThreadService = app.state.threads
            completer = RecordingCompleter()
            runtime = app.state.threads_runtime
            executor = ChatbotExecutor(runtime.store, runtime.order, HistoryAssembler(runtime.store, counter()),
                                       completer, Queued())
            app.state.turn_runner = InlineRunner(threads, executor)
            async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
                yield ChatbotApi(url, client, await new_key(ctx, "org-a"), await new_key(ctx, "org-b"), completer)
