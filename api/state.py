"""Puts the parts of the Context that the chatbot and RAG routes read on `app.state`.

Nothing is built here: threads, end-user authentication, the turn runner and RAG come from
the composition root (services/context.py). The per-process WebSocket counter is the only
object made here, because it belongs to this HTTP process, not to a domain.
"""

from __future__ import annotations

from fastapi import FastAPI

from api.routes.chatbot_ws import SocketCounter
from services.context import Context
from services.threads.turn_limits import GovernedTurnLimiter


def install_state(app: FastAPI, ctx: Context) -> None:
    state = app.state
    state.api_key_auth = ctx.governance.org_of
    state.threads, state.threads_runtime = ctx.threads.service, ctx.threads
    state.chatbot_auth, state.enduser_tokens = ctx.enduser.service, ctx.enduser.tokens
    state.chatbot_settings = ctx.settings.chatbot
    state.chatbot_sockets = SocketCounter(ctx.settings.chatbot.ws_max_per_user)
    state.turn_runner = ctx.turns
    state.turn_limiter = GovernedTurnLimiter(ctx.governance.governor, ctx.bridges)
    state.rag, state.embeddings = ctx.rag.service, ctx.rag.embeddings
    governance = ctx.governance
    state.governance, state.governor = governance, governance.governor
    state.authenticator, state.audit_log = governance.authenticator, governance.audit
    state.lifecycle = ctx.lifecycle
