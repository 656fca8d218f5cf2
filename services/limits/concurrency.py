"""Concurrency limits: streams and inline calls held open by this process, and per caller.

The process gate is a plain counter (it protects this process's memory and sockets, so it
is per process by design: 503). Per-caller slots live in the shared counters with a lease,
so they hold across processes and a crashed process's slots free themselves (429).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import StrEnum

from services.limits.checks import SlotCheck
from services.limits.errors import Overloaded, RateLimited
from services.limits.store import LimitCounters


class Held(StrEnum):
    STREAM = "stream"
    INLINE = "inline"


class ProcessGate:
    def __init__(self, limits: dict[Held, int]) -> None:
        self._limits = limits
        self._open = dict.fromkeys(Held, 0)

    def open(self, kind: Held) -> int:
        return self._open[kind]

    def enter(self, kind: Held) -> Entered:
        """`async with gate.enter(kind)`: one held call of `kind` (503 when all are held)."""
        return Entered(self, kind)


class Entered:
    """A plain context manager, not `asynccontextmanager`: a generator-based one costs
    ~1.5% of a proxied call (its generator, helper and frames), this a counter bump."""

    __slots__ = ("_gate", "_kind")

    def __init__(self, gate: ProcessGate, kind: Held) -> None:
        self._gate = gate
        self._kind = kind

    async def __aenter__(self) -> None:
        gate, kind = self._gate, self._kind
        if gate._open[kind] >= gate._limits[kind]:
            raise Overloaded(f"this server holds its maximum of {gate._limits[kind]} {kind.value} calls",
                             retry_after_s=1.0)
        gate._open[kind] += 1

    async def __aexit__(self, *exc: object) -> None:
        self._gate._open[self._kind] -= 1


@asynccontextmanager
async def caller_slots(counters: LimitCounters, checks: list[SlotCheck], lease_s: float) -> AsyncIterator[None]:
    """Hold one slot of every check, or none (429 naming the full one)."""
    lease = secrets.token_hex(8)
    held: list[SlotCheck] = []
    try:
        for check in checks:
            if not await counters.acquire_slot(check.key, check.limit, lease, lease_s):
                raise RateLimited(f"{check.name}: {check.limit} calls already in flight",
                                  retry_after_s=1.0, headers={"Retry-After": "1"}, limit=check.name)
            held.append(check)
        yield
    finally:
        for check in held:
            await counters.release_slot(check.key, lease)
