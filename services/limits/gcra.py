"""GCRA (generic cell rate algorithm) arithmetic, shared by the embedded adapter.

A bucket allowing `limit` units per `window_s` keeps one number, the theoretical arrival
time `tat`: each unit pushes it `window_s / limit` seconds on; a request passes while
`tat` stays within `window_s` of now. That admits a burst of `limit` and then the steady
rate, so any window sees at most `limit` plus one burst. The Lua in redis_lua.py is the
same arithmetic on Redis time.
"""

from __future__ import annotations

import math


def take(tat: float | None, now: float, limit: int, window_s: float, cost: int) -> tuple[bool, float, float]:
    """(allowed, new tat, wait): the tat to store when allowed, else how long to wait."""
    interval = window_s / limit
    start = max(tat or now, now)
    new_tat = start + cost * interval
    over = new_tat - now - window_s
    if over > 1e-9:
        return False, start, window_s if cost > limit else over
    return True, new_tat, 0.0


def remaining(tat: float, now: float, limit: int, window_s: float) -> int:
    interval = window_s / limit
    return max(0, math.floor((window_s - max(tat - now, 0.0)) / interval + 1e-9))


def adjust(tat: float | None, now: float, limit: int, window_s: float, delta: int) -> float:
    """Move a bucket by `delta` units after the fact (settling a token estimate)."""
    return max((tat or now) + delta * window_s / limit, now)
