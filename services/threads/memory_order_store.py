"""In-process turn order (one process: `make run`, unit tests). Same rules as the Redis
adapter, kept in dicts; `clock` is injectable so a test can move time."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from services.threads.order_store import Acquired, Grant


@dataclass
class _State:
    seq: int = 0
    cursor: int = 1
    holder: str | None = None
    lease_until: float = 0.0
    active_at: float | None = None
    done: set[int] = field(default_factory=set)


class MemoryTurnOrder:
    def __init__(self, *, lease_s: float = 30.0, stall_s: float = 120.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._lease_s, self._stall_s, self._clock = lease_s, stall_s, clock
        self._threads: dict[str, _State] = {}

    def _state(self, thread_id: str) -> _State:
        return self._threads.setdefault(thread_id, _State())

    async def assign(self, thread_id: str, *, floor: int = 0) -> int:
        state = self._threads.get(thread_id)
        if state is None:
            state = self._threads[thread_id] = _State(seq=floor, cursor=floor + 1)
        state.seq = max(state.seq, floor) + 1
        return state.seq

    async def acquire(self, thread_id: str, turn: int, holder: str) -> Acquired:
        state, now = self._state(thread_id), self._clock()
        if turn < state.cursor or turn in state.done:
            return Acquired(Grant.DONE, state.cursor)
        live = state.holder is not None and state.lease_until > now
        if turn > state.cursor:
            if state.active_at is None:
                state.active_at = now
            if live or now - state.active_at < self._stall_s:
                return Acquired(Grant.WAIT, state.cursor)
            # The cursor's turn stalled: skip it alone (the turns after it may be alive),
            # and give the next one its own stall window.
            self._advance(state)
            state.active_at = now
            if turn != state.cursor:
                return Acquired(Grant.WAIT, state.cursor)
        elif live and state.holder != holder:
            return Acquired(Grant.WAIT, state.cursor)
        state.holder, state.lease_until, state.active_at = holder, now + self._lease_s, now
        return Acquired(Grant.GRANTED, state.cursor)

    async def renew(self, thread_id: str, holder: str) -> bool:
        state, now = self._state(thread_id), self._clock()
        if state.holder != holder:
            return False
        state.lease_until, state.active_at = now + self._lease_s, now
        return True

    async def pause(self, thread_id: str, holder: str) -> bool:
        state = self._state(thread_id)
        if state.holder != holder:
            return False
        state.holder, state.lease_until, state.active_at = None, 0.0, self._clock()
        return True

    async def finish(self, thread_id: str, turn: int) -> int:
        state = self._state(thread_id)
        if turn > state.cursor:
            state.done.add(turn)
        elif turn == state.cursor:
            self._advance(state)
            state.holder, state.lease_until, state.active_at = None, 0.0, self._clock()
        return state.cursor

    @staticmethod
    def _advance(state: _State) -> None:
        state.cursor += 1
        while state.cursor in state.done:
            state.done.discard(state.cursor)
            state.cursor += 1

    async def forget(self, thread_id: str) -> None:
        self._threads.pop(thread_id, None)

    async def close(self) -> None:
        return None
