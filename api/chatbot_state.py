"""Puts the chatbot's parts of the Context where the chatbot routes read them (`app.state`).

Nothing is built here: the threads, end-user authentication and the turn runner come from
the composition root (services/context.py). The per-process WebSocket counter is the only
object made here, because it belongs to this HTTP process, not to a domain.
"""

from __future__ import annotations

from fastapi import FastAPI

from api.routes.chatbot_ws import SocketCounter
from services.context import Context


def install_chatbot(app: FastAPI, ctx: Context) -> None:
    state = app.state
    state.api_key_auth = ctx.keys.authenticate
    state.threads, state.threads_runtime = ctx.threads.service, ctx.threads
    state.chatbot_auth, state.enduser_tokens = ctx.enduser.service, ctx.enduser.tokens
    state.chatbot_settings = ctx.settings.chatbot
    state.chatbot_sockets = SocketCounter(ctx.settings.chatbot.ws_max_per_user)
    state.turn_runner = ctx.turns
