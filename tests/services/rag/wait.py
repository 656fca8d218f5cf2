from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def wait_until(check: Callable[[], Awaitable[bool]], *, timeout_s: float) -> None:
    """Poll `check` until it holds; fail with the last state after `timeout_s` (a bound, not
    an assertion on speed)."""
    end = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > end:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.1)
