"""Ports of the auth domain: revocation broadcast and key usage counters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class RevocationBus(Protocol):
    """Tells every process that a key was revoked, so its cache drops it at once.

    `live` is False while the process may be missing messages (not subscribed): callers
    must not trust a cache then. `on_revoked("*")` means "drop everything"."""

    @property
    def live(self) -> bool: ...

    async def start(self, on_revoked: Callable[[str], None]) -> None:
        """Listen; `on_revoked(key_id)` runs for every revocation, this process's included."""
        ...

    async def publish(self, key_id: str) -> None: ...

    async def close(self) -> None: ...


class KeyUsageStore(Protocol):
    """How often each key was used and when last, added to in batches."""

    async def add(self, uses: dict[str, tuple[int, float]]) -> None:
        """Add each key's (count, last used unix time) to its totals."""
        ...

    async def read(self, key_ids: list[str]) -> dict[str, tuple[int, float | None]]: ...
