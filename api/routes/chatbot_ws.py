"""The chatbot WebSocket, `/api/v1/chatbot/ws`: an end user's conversation over one socket.

Authenticate with a first frame `{"type": "auth", "token": "<end-user JWT>"}` (browsers
cannot set headers on a WebSocket; a token in the URL, `?token=`, also works but ends up in
proxies' access logs), or an `Authorization: Bearer` header (an API key works too, for
server-side use). Frames are JSON:

  server -> {"type": "ready", "org", "user", "heartbeat_s"}                  once, after auth
  client -> {"type": "message", "id", "bridge", "thread_id"?, "content", "variables"?}
  server -> {"type": "thread", "reply_to", "thread_id", "turn"}              then
            {"type": "chunk", "reply_to", "delta"} ...                        then
            {"type": "done", "reply_to", "result"} | {"type": "error", "reply_to", "code", "message"}
  client -> {"type": "ping"}            server -> {"type": "pong"}
  server -> {"type": "heartbeat"}       after CHATBOT_WS_HEARTBEAT_S without a frame sent
  server -> {"type": "error", "code": "invalid_message", "fields": [...]}    socket stays open

Close codes: 4401 bad or expired token (also when it expires while open), 4403 origin not
allowed, 4408 nothing heard for CHATBOT_WS_IDLE_TIMEOUT_S, 4429 the end user already has
CHATBOT_WS_MAX_PER_USER sockets open on this process, 4503 chatbot services not started.
Turns run concurrently (different threads), at most MAX_TURNS_IN_FLIGHT per socket; turns
of one thread are ordered by the job lifecycle, not here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket
from pydantic import ValidationError
from starlette.websockets import WebSocketState

from api.errors import validation_body
from api.principal import resolve_principal
from config import ChatbotSettings
from services.auth.principal import Principal
from services.errors import Forbidden, PlatformError, Unauthorized
from services.providers.types import Message
from services.threads.schemas import SocketPing, SocketTurn
from services.threads.turns import NoLimits, TurnLimiter, TurnRunner

log = logging.getLogger(__name__)
router = APIRouter(tags=["chatbot"])
MAX_TURNS_IN_FLIGHT = 4
# A client that opens a socket without credentials has this long to send its auth frame.
AUTH_FRAME_TIMEOUT_S = 10.0


class SocketCounter:
    """Open sockets per (org, end user) in this process."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: Counter[tuple[str, str]] = Counter()

    def enter(self, key: tuple[str, str]) -> bool:
        if self._open[key] >= self.limit:
            return False
        self._open[key] += 1
        return True

    def leave(self, key: tuple[str, str]) -> None:
        self._open[key] -= 1
        if self._open[key] <= 0:
            del self._open[key]


@router.websocket("/api/v1/chatbot/ws")
async def chatbot_socket(ws: WebSocket) -> None:
    # Accept first: a refusal before accept reaches a browser as a bare 1006, without our code.
    await ws.accept()
    state = ws.app.state
    runner: TurnRunner | None = getattr(state, "turn_runner", None)
    sockets: SocketCounter | None = getattr(state, "chatbot_sockets", None)
    settings: ChatbotSettings | None = getattr(state, "chatbot_settings", None)
    if runner is None or sockets is None or settings is None:
        await ws.close(4503, "chatbot not started")
        return
    try:
        authorization = await _credential(ws)
        principal = await resolve_principal(state, authorization, ws.headers.get("origin"))
    except Forbidden as exc:
        await ws.close(4403, exc.message[:120])
        return
    except (Unauthorized, PlatformError) as exc:
        await ws.close(4401, exc.message[:120])
        return
    key = (principal.org_id, principal.end_user or "")
    if not sockets.enter(key):
        await ws.close(4429, "too many open sockets for this user")
        return
    try:
        limiter: TurnLimiter = getattr(state, "turn_limiter", None) or NoLimits()
        await Session(ws, principal, runner, limiter, settings).serve()
    finally:
        sockets.leave(key)


async def _credential(ws: WebSocket) -> str | None:
    """The bearer credential: the header, the query string, or else the first frame."""
    if token := ws.query_params.get("token"):
        return f"Bearer {token}"
    if header := ws.headers.get("authorization"):
        return header
    try:
        frame = await asyncio.wait_for(ws.receive(), timeout=AUTH_FRAME_TIMEOUT_S)
        data = orjson.loads(frame.get("text") or frame.get("bytes") or b"")
    except (TimeoutError, orjson.JSONDecodeError) as exc:
        raise Unauthorized("expected an auth frame first") from exc
    if not isinstance(data, dict) or data.get("type") != "auth" or not isinstance(data.get("token"), str):
        raise Unauthorized("expected {\"type\": \"auth\", \"token\": ...} first")
    return f"Bearer {data['token']}"


class Session:
    def __init__(self, ws: WebSocket, principal: Principal, runner: TurnRunner, limiter: TurnLimiter,
                 settings: ChatbotSettings) -> None:
        self._ws, self._principal, self._runner, self._limiter = ws, principal, runner, limiter
        self._settings = settings
        self._send_lock = asyncio.Lock()
        self._last_sent = time.monotonic()
        self._turns: set[asyncio.Task[None]] = set()

    async def send(self, frame: dict[str, Any]) -> None:
        async with self._send_lock:
            if self._ws.application_state is WebSocketState.CONNECTED:
                await self._ws.send_text(orjson.dumps(frame).decode())
                self._last_sent = time.monotonic()

    async def serve(self) -> None:
        await self.send({"type": "ready", "org": self._principal.org_id, "user": self._principal.end_user,
                         "heartbeat_s": self._settings.ws_heartbeat_s})
        heartbeat = asyncio.get_running_loop().create_task(self._heartbeats())
        try:
            await self._receive()
        finally:
            heartbeat.cancel()
            for task in self._turns:
                task.cancel()
            await asyncio.gather(heartbeat, *self._turns, return_exceptions=True)

    async def _heartbeats(self) -> None:
        every = self._settings.ws_heartbeat_s
        while True:
            await asyncio.sleep(max(0.01, every - (time.monotonic() - self._last_sent)))
            if time.monotonic() - self._last_sent >= every:
                await self.send({"type": "heartbeat"})

    async def _close(self, code: int, reason: str) -> None:
        async with self._send_lock:
            with contextlib.suppress(RuntimeError):
                await self._ws.close(code, reason)

    async def _receive(self) -> None:
        while True:
            wait = self._settings.ws_idle_timeout_s
            if self._principal.expires_at is not None:
                wait = min(wait, self._principal.expires_at - time.time())
            try:
                frame = await asyncio.wait_for(self._ws.receive(), timeout=max(wait, 0.0))
            except TimeoutError:
                expired = self._principal.expired
                await self._close(4401 if expired else 4408, "token expired" if expired else "idle")
                return
            if frame["type"] == "websocket.disconnect":
                return
            if self._principal.expired:
                await self._close(4401, "token expired")
                return
            await self._handle(frame.get("text") or (frame.get("bytes") or b"").decode(errors="replace"))

    async def _handle(self, text: str) -> None:
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            await self._invalid([{"field": "body", "reason": "not JSON"}])
            return
        kind = data.get("type") if isinstance(data, dict) else None
        try:
            if kind == "ping":
                SocketPing.model_validate(data)
                await self.send({"type": "pong"})
            elif kind == "message":
                self._start(SocketTurn.model_validate(data))
            else:
                await self._invalid([{"field": "type", "reason": "expected 'message' or 'ping'"}])
        except ValidationError as exc:
            await self._invalid(validation_body(list(exc.errors()))["error"]["fields"])

    async def _invalid(self, fields: list[dict[str, Any]]) -> None:
        await self.send({"type": "error", "code": "invalid_message", "message": "frame validation failed",
                         "fields": fields})

    def _start(self, turn: SocketTurn) -> None:
        if len(self._turns) >= MAX_TURNS_IN_FLIGHT:
            task = asyncio.get_running_loop().create_task(self.send({
                "type": "error", "reply_to": turn.id, "code": "too_many_turns",
                "message": f"at most {MAX_TURNS_IN_FLIGHT} turns in flight per socket"}))
        else:
            task = asyncio.get_running_loop().create_task(self._turn(turn))
        self._turns.add(task)
        task.add_done_callback(self._turns.discard)

    async def _turn(self, turn: SocketTurn) -> None:
        try:
            await self._limiter.check(self._principal, turn.bridge, turn.thread_id)
            message = Message(role="user", content=turn.content)
            async for event in self._runner.run_turn(self._principal, turn.bridge, turn.thread_id, message,
                                                     turn.variables):
                await self.send({"type": event.type, "reply_to": turn.id, **event.data})
        except PlatformError as exc:
            await self.send({"type": "error", "reply_to": turn.id, **exc.as_dict()})
        except Exception:
            log.exception("chatbot turn crashed")
            await self.send({"type": "error", "reply_to": turn.id, "code": "internal_error",
                             "message": "the turn failed unexpectedly"})
