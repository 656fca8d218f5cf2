"""In-process bridge store, saved to the embedded JSON file when given one.

Every read returns a copy, as a database would, so a caller editing what it got back never
changes the stored record behind the store's back.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from services.bridges.model import Bridge, BridgeVersion
from services.bridges.store import slug_taken, version_exists
from services.config.json_file import JsonFile
from services.config.paging import Page, page_of

BRIDGES, VERSIONS = "bridges", "bridge_versions"


class MemoryBridgeStore:
    def __init__(self, file: JsonFile | None = None) -> None:
        self._file = file
        self._bridges: dict[str, Bridge] = {}
        self._versions: dict[tuple[str, int], BridgeVersion] = {}
        self._lock = asyncio.Lock()

    async def connect(self) -> None:
        if self._file is None:
            return
        for raw in self._file.read(BRIDGES):
            bridge = Bridge.model_validate(raw)
            self._bridges[bridge.id] = bridge
        for raw in self._file.read(VERSIONS):
            version = BridgeVersion.model_validate(raw)
            self._versions[(version.bridge_id, version.version)] = version

    def _save(self) -> None:
        if self._file is not None:
            self._file.write({
                BRIDGES: [b.model_dump(mode="json") for b in self._bridges.values()],
                VERSIONS: [v.model_dump(mode="json") for v in self._versions.values()],
            })

    def _live(self, org_id: str, bridge_id: str) -> Bridge | None:
        bridge = self._bridges.get(bridge_id)
        if bridge is None or bridge.org_id != org_id or bridge.deleted:
            return None
        return bridge

    def _slug_owner(self, org_id: str, slug: str) -> Bridge | None:
        for bridge in self._bridges.values():
            if bridge.org_id == org_id and bridge.slug == slug and not bridge.deleted:
                return bridge
        return None

    async def insert_bridge(self, bridge: Bridge) -> None:
        async with self._lock:
            if self._slug_owner(bridge.org_id, bridge.slug):
                raise slug_taken(bridge.slug)
            self._bridges[bridge.id] = bridge.model_copy(deep=True)
            self._save()

    async def get_bridge(self, org_id: str, bridge_id: str) -> Bridge | None:
        bridge = self._live(org_id, bridge_id)
        return bridge.model_copy(deep=True) if bridge else None

    async def find_bridge_by_slug(self, org_id: str, slug: str) -> Bridge | None:
        bridge = self._slug_owner(org_id, slug)
        return bridge.model_copy(deep=True) if bridge else None

    async def list_bridges(
        self, org_id: str, *, limit: int, cursor: str | None = None
    ) -> Page[Bridge]:
        rows = sorted(
            (b for b in self._bridges.values()
             if b.org_id == org_id and not b.deleted and (cursor is None or b.id > cursor)),
            key=lambda b: b.id,
        )[: limit + 1]
        return page_of([b.model_copy(deep=True) for b in rows], limit, lambda b: b.id)

    async def update_bridge(
        self, org_id: str, bridge_id: str, changes: dict[str, Any]
    ) -> Bridge | None:
        async with self._lock:
            bridge = self._live(org_id, bridge_id)
            if bridge is None:
                return None
            slug = changes.get("slug")
            if slug is not None and slug != bridge.slug and self._slug_owner(org_id, slug):
                raise slug_taken(slug)
            updated = Bridge.model_validate({**bridge.model_dump(mode="json"), **changes})
            self._bridges[bridge_id] = updated
            self._save()
            return updated.model_copy(deep=True)

    async def delete_bridge(self, org_id: str, bridge_id: str) -> bool:
        async with self._lock:
            bridge = self._live(org_id, bridge_id)
            if bridge is None:
                return False
            bridge.deleted, bridge.deleted_at = True, time.time()
            self._save()
            return True

    async def reserve_version(self, org_id: str, bridge_id: str) -> int | None:
        async with self._lock:
            bridge = self._live(org_id, bridge_id)
            if bridge is None:
                return None
            bridge.latest_version += 1
            self._save()
            return bridge.latest_version

    async def insert_version(self, version: BridgeVersion) -> None:
        async with self._lock:
            key = (version.bridge_id, version.version)
            if key in self._versions:
                raise version_exists(version.version)
            self._versions[key] = version.model_copy(deep=True)
            self._save()

    async def get_version(self, org_id: str, bridge_id: str, version: int) -> BridgeVersion | None:
        found = self._versions.get((bridge_id, version))
        if found is None or found.org_id != org_id:
            return None
        return found.model_copy(deep=True)

    async def list_versions(
        self, org_id: str, bridge_id: str, *, limit: int, cursor: str | None = None
    ) -> Page[BridgeVersion]:
        below = int(cursor) if cursor else None
        rows = sorted(
            (v for (bid, n), v in self._versions.items()
             if bid == bridge_id and v.org_id == org_id and (below is None or n < below)),
            key=lambda v: -v.version,
        )[: limit + 1]
        return page_of([v.model_copy(deep=True) for v in rows], limit, lambda v: v.version)

    async def point_to_version(
        self, org_id: str, bridge_id: str, version: int, *, only_if_latest: bool
    ) -> Bridge | None:
        async with self._lock:
            bridge = self._live(org_id, bridge_id)
            if bridge is None or (only_if_latest and bridge.latest_version != version):
                return None
            bridge.published_version, bridge.updated_at = version, time.time()
            self._save()
            return bridge.model_copy(deep=True)
