"""A worker's health, as its Kubernetes probes ask for it on the metrics port.

- live (`/healthz`): the event loop still runs (its heartbeat is fresh) and the worker is
  not stuck (with messages in flight, one settled within `stuck_after_s`). A failing
  liveness probe restarts the container; its unacked messages go back to the queue.
- ready (`/readyz`): connected to the broker and consuming. A worker that lost RabbitMQ
  reconnects by itself (services/broker/rabbit.py), so this is readiness, not liveness:
  restarting it would not bring the broker back.

The heartbeat runs on the worker's event loop; the probes are answered from the metrics
server's thread, which only reads the numbers the loop last wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from services.broker.base import Broker

log = logging.getLogger(__name__)
# Probe periods are 10 s (k8s/base); a beat every 5 s and a limit of 30 s means a loop
# blocked for half a minute fails liveness, while one slow beat never does.
BEAT_INTERVAL_S = 5.0
BEAT_STALE_S = 30.0
PING_TIMEOUT_S = 5.0


@dataclass
class WorkerHealth:
    # A job may legitimately run for its whole deadline (JOBS_DEADLINE_S, 300 s): only past
    # that with nothing settled is the worker stuck rather than busy.
    stuck_after_s: float
    in_flight: Callable[[], int] = lambda: 0
    connected: bool = False
    consuming: bool = False
    last_beat: float = field(default_factory=time.monotonic)
    last_settled: float = field(default_factory=time.monotonic)

    def settled(self) -> None:
        """A message was acked, retried, rejected or requeued."""
        self.last_settled = time.monotonic()

    def live(self) -> tuple[bool, dict[str, Any]]:
        now = time.monotonic()
        beat_age = now - self.last_beat
        in_flight = self.in_flight()
        idle_for = now - self.last_settled
        stuck = in_flight > 0 and idle_for > self.stuck_after_s
        return beat_age <= BEAT_STALE_S and not stuck, {
            "heartbeat_age_s": round(beat_age, 3), "in_flight": in_flight,
            "since_last_settled_s": round(idle_for, 3), "stuck": stuck,
        }

    def ready(self) -> tuple[bool, dict[str, Any]]:
        ok, detail = self.live()
        return ok and self.connected and self.consuming, {
            **detail, "connected": self.connected, "consuming": self.consuming,
        }


def start_heartbeat(health: WorkerHealth, broker: Broker) -> Callable[[], Awaitable[None]]:
    """Beat every BEAT_INTERVAL_S, checking the broker connection; returns the stopper."""

    async def beat() -> None:
        while True:
            try:
                await asyncio.wait_for(broker.ping(), PING_TIMEOUT_S)
                health.connected = True
            except Exception as exc:
                if health.connected:
                    log.warning("broker unreachable; worker not ready", extra={"error": str(exc)})
                health.connected = False
            health.last_beat = time.monotonic()
            await asyncio.sleep(BEAT_INTERVAL_S)

    task = asyncio.get_running_loop().create_task(beat(), name="worker-heartbeat")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return stop
