"""The bridge repository port: bridges and their immutable versions.

Adapters: `memory_store.MemoryBridgeStore` (dicts, saved to the embedded JSON file) and
`mongo_store.MongoBridgeStore` (collections `bridges`, `bridge_versions`).
tests/services/bridges/test_store_contract.py runs one suite against both. Every read and
write takes the org id: another org's id simply finds nothing.
"""

from __future__ import annotations

from typing import Any, Protocol

from services.bridges.model import Bridge, BridgeVersion
from services.config.paging import Page
from services.errors import Conflict


def slug_taken(slug: str) -> Conflict:
    return Conflict(f"a bridge with slug {slug!r} already exists", code="slug_taken", field="slug")


def version_exists(version: int) -> Conflict:
    return Conflict(f"version {version} already exists", code="version_exists")


class BridgeStore(Protocol):
    async def connect(self) -> None:
        """Create indexes (Mongo) or load the saved bridges (memory)."""

    # Deleted bridges are kept (soft delete) but no read below returns them.
    async def insert_bridge(self, bridge: Bridge) -> None:
        """Raise Conflict when the org already has a live bridge with this slug."""

    async def get_bridge(self, org_id: str, bridge_id: str) -> Bridge | None: ...

    async def find_bridge_by_slug(self, org_id: str, slug: str) -> Bridge | None: ...

    async def list_bridges(
        self, org_id: str, *, limit: int, cursor: str | None = None
    ) -> Page[Bridge]:
        """Oldest first; `cursor` is the previous page's `next_cursor`."""

    async def update_bridge(
        self, org_id: str, bridge_id: str, changes: dict[str, Any]
    ) -> Bridge | None:
        """Set top-level fields (JSON values) and return the new bridge; None if absent.

        Raise Conflict when a new slug is taken."""

    async def delete_bridge(self, org_id: str, bridge_id: str) -> bool:
        """Soft delete: frees the slug, keeps the record and its versions."""

    async def reserve_version(self, org_id: str, bridge_id: str) -> int | None:
        """Atomically take the bridge's next version number (None if the bridge is absent)."""

    async def insert_version(self, version: BridgeVersion) -> None:
        """Raise Conflict when (bridge_id, version) exists: versions are immutable."""

    async def get_version(
        self, org_id: str, bridge_id: str, version: int
    ) -> BridgeVersion | None: ...

    async def list_versions(
        self, org_id: str, bridge_id: str, *, limit: int, cursor: str | None = None
    ) -> Page[BridgeVersion]:
        """Newest first; the cursor is a version number."""

    async def point_to_version(
        self, org_id: str, bridge_id: str, version: int, *, only_if_latest: bool
    ) -> Bridge | None:
        """Make `version` the published one. With only_if_latest, do it only while it is
        still the highest number handed out (a concurrent publish wins); None otherwise."""
