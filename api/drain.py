"""Zero-downtime shutdown of an API process.

On SIGTERM (a rollout, a scale-down) the server (uvicorn, also under gunicorn) closes its
listening socket and waits for open requests. That suits inline calls, which finish on
this process, but not relayed job streams (GET /api/v1/jobs/{id}/events), which can stay
open for minutes and hold the pod until Kubernetes kills it. So SIGTERM also starts a
drain here:
- every relayed stream ends at once with a `reconnect` event carrying the id of the last
  event it sent (`retry:` tells an EventSource to come back in 1 s); the client reconnects
  with `Last-Event-ID`, lands on another process and resumes where it was;
- /ready answers 503, so the Service stops routing here even before the pod is removed.

Inline calls and `?wait=` requests are left to finish, inside uvicorn's graceful timeout
(30 s, index.py), itself inside the pod's terminationGracePeriodSeconds (k8s/base/api.yaml).
The server's own signal handler still runs: this one is chained in front of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any

from fastapi import FastAPI

from services.common.sse import event_id_of, sse

log = logging.getLogger(__name__)
SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Milliseconds an EventSource waits before reconnecting after the `reconnect` event.
RECONNECT_RETRY_MS = 1000


class Drain:
    """Whether this process is shutting down, as an event streams can wait on."""

    def __init__(self) -> None:
        self.draining = False
        self._event: asyncio.Event | None = None

    def begin(self) -> None:
        if not self.draining:
            log.info("draining: relayed streams end with a reconnect event")
        self.draining = True
        if self._event is not None:
            self._event.set()

    async def wait(self) -> None:
        if self._event is None:
            self._event = asyncio.Event()
            if self.draining:
                self._event.set()
        await self._event.wait()

    @contextlib.contextmanager
    def on_signals(self) -> Any:
        """Chain `begin` in front of the current SIGTERM/SIGINT handlers while inside."""
        if threading.current_thread() is not threading.main_thread():
            yield  # signals reach the main thread only (an app served from a test's thread)
            return
        loop = asyncio.get_running_loop()
        previous: dict[int, Any] = {}

        def handler(sig: int, frame: FrameType | None) -> None:
            # A signal interrupts the loop between two bytecodes: hand over, do not touch it.
            loop.call_soon_threadsafe(self.begin)
            chained = previous.get(sig)
            if callable(chained):
                chained(sig, frame)
            elif chained == signal.SIG_DFL:
                # Nobody else handles it (no server around us): keep the default behaviour.
                signal.signal(sig, signal.SIG_DFL)
                signal.raise_signal(sig)

        for sig in SIGNALS:
            previous[sig] = signal.signal(sig, handler)
        try:
            yield
        finally:
            for number, old in previous.items():
                signal.signal(number, old)


def install_drain(app: FastAPI) -> Drain:
    """Give `app` a Drain (app.state.drain) that SIGTERM starts while the app is served."""
    drain = Drain()
    app.state.drain = drain
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(served: FastAPI) -> AsyncIterator[Any]:
        async with inner(served) as state:
            with drain.on_signals():
                yield state

    app.router.lifespan_context = lifespan
    return drain


def reconnect_event(last_event_id: str | None) -> bytes:
    """The last event of a drained stream: where to resume, and to reconnect in 1 s."""
    data = {"reason": "server_shutdown", "last_event_id": last_event_id}
    return f"retry: {RECONNECT_RETRY_MS}\n".encode() + sse("reconnect", data, event_id=last_event_id)


async def until_drained(frames: AsyncIterator[bytes], drain: Drain,
                        last_event_id: str | None) -> AsyncIterator[bytes]:
    """Relay SSE `frames` until they end or the drain starts; then a `reconnect` event."""
    stopping = asyncio.ensure_future(drain.wait())
    pending: asyncio.Future[bytes] | None = None
    try:
        while True:
            pending = asyncio.ensure_future(anext(frames))
            done, _ = await asyncio.wait({pending, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if pending not in done:
                yield reconnect_event(last_event_id)
                return
            try:
                frame = pending.result()
            except StopAsyncIteration:
                return
            last_event_id = event_id_of(frame) or last_event_id
            yield frame
    finally:
        stopping.cancel()
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending
        aclose: Callable[[], Any] | None = getattr(frames, "aclose", None)
        if aclose is not None:
            await aclose()
