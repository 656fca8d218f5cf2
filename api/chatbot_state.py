"""Puts the chatbot's services where its routes find them (`app.state`), for the lifespan.

This is the chatbot's part of the composition root; the routes read `threads`,
`chatbot_auth`, `enduser_tokens`, `chatbot_settings`, `chatbot_sockets`, `api_key_auth`
and, once the job lifecycle is wired, `turn_runner` (and optionally `turn_limiter`).
`threads_runtime` holds the store and turn order a process running the `chatbot` executor
builds it from (services.threads.runtime.chatbot_executor).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from api.principal import ApiKeyAuth
from api.routes.chatbot_ws import SocketCounter
from config import Settings
from services.auth.enduser.runtime import EndUserAuth, start_enduser_auth
from services.threads.runtime import ThreadsRuntime, start_threads


@dataclass
class ChatbotState:
    threads: ThreadsRuntime
    enduser: EndUserAuth

    async def close(self) -> None:
        await self.enduser.close()
        await self.threads.close()


async def install_chatbot(app: FastAPI, settings: Settings, redis: Any | None,
                          api_key_auth: ApiKeyAuth) -> ChatbotState:
    threads = await start_threads(settings, redis)
    try:
        enduser = await start_enduser_auth(settings)
    except BaseException:
        await threads.close()
        raise
    state = app.state
    state.api_key_auth, state.threads, state.threads_runtime = api_key_auth, threads.service, threads
    state.chatbot_auth, state.enduser_tokens = enduser.service, enduser.tokens
    state.chatbot_settings = settings.chatbot
    state.chatbot_sockets = SocketCounter(settings.chatbot.ws_max_per_user)
    return ChatbotState(threads, enduser)
