"""In-process config store; saved to a JSON file when given a path.

Every read returns a copy, as a database would, so a caller editing what it got back never
changes the stored record behind the store's back.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson

from services.auth.keys import ApiKey
from services.bridges.model import Bridge, BridgeVersion
from services.config.paging import Page, page_of
from services.credentials.model import Credential
from services.errors import Conflict


def slug_taken(slug: str) -> Conflict:
    return Conflict(f"a bridge with slug {slug!r} already exists", code="slug_taken", field="slug")


class MemoryConfigStore:
    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._keys: dict[str, ApiKey] = {}
        self._bridges: dict[str, Bridge] = {}
        self._versions: dict[tuple[str, int], BridgeVersion] = {}
        self._creds: dict[str, Credential] = {}
        self._lock = asyncio.Lock()

    async def connect(self) -> None:
        if not (self._path and self._path.exists()):
            return
        data = orjson.loads(self._path.read_bytes())
        for raw in data.get("api_keys", []):
            key = ApiKey.model_validate(raw)
            self._keys[key.key_hash] = key
        for raw in data.get("bridges", []):
            bridge = Bridge.model_validate(raw)
            self._bridges[bridge.id] = bridge
        for raw in data.get("bridge_versions", []):
            version = BridgeVersion.model_validate(raw)
            self._versions[(version.bridge_id, version.version)] = version
        for raw in data.get("credentials", []):
            cred = Credential.model_validate(raw)
            self._creds[cred.id] = cred

    async def _save(self) -> None:
        if not self._path:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "api_keys": [k.model_dump(mode="json") for k in self._keys.values()],
            "bridges": [b.model_dump(mode="json") for b in self._bridges.values()],
            "bridge_versions": [v.model_dump(mode="json") for v in self._versions.values()],
            "credentials": [c.model_dump(mode="json") for c in self._creds.values()],
        }
        tmp = self._path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
        tmp.replace(self._path)

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def add_api_key(self, key: ApiKey) -> None:
        async with self._lock:
            self._keys[key.key_hash] = key.model_copy()
            await self._save()

    async def find_api_key(self, key_hash: str) -> ApiKey | None:
        key = self._keys.get(key_hash)
        return key.model_copy() if key and not key.revoked else None

    async def list_api_keys(self, org_id: str) -> list[ApiKey]:
        return [k.model_copy() for k in self._keys.values() if k.org_id == org_id]

    async def revoke_api_key(self, org_id: str, key_id: str) -> bool:
        async with self._lock:
            for key in self._keys.values():
                if key.id == key_id and key.org_id == org_id:
                    key.revoked = True
                    await self._save()
                    return True
        return False

    # Bridges.
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
            await self._save()

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
            await self._save()
            return updated.model_copy(deep=True)

    async def delete_bridge(self, org_id: str, bridge_id: str) -> bool:
        async with self._lock:
            bridge = self._live(org_id, bridge_id)
            if bridge is None:
                return False
            bridge.deleted, bridge.deleted_at = True, time.time()
            await self._save()
            return True

    async def reserve_version(self, org_id: str, bridge_id: str) -> int | None:
        async with self._lock:
            bridge = self._live(org_id, bridge_id)
            if bridge is None:
                return None
            bridge.latest_version += 1
            await self._save()
            return bridge.latest_version

    async def insert_version(self, version: BridgeVersion) -> None:
        async with self._lock:
            key = (version.bridge_id, version.version)
            if key in self._versions:
                raise Conflict(f"version {version.version} already exists", code="version_exists")
            self._versions[key] = version.model_copy(deep=True)
            await self._save()

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
            await self._save()
            return bridge.model_copy(deep=True)

    # Credentials.
    async def put_credential(self, credential: Credential) -> Credential:
        async with self._lock:
            current = next(
                (c for c in self._creds.values()
                 if c.org_id == credential.org_id and c.provider == credential.provider),
                None,
            )
            stored = credential.model_copy()
            if current is not None:
                stored.id, stored.created_at = current.id, current.created_at
            self._creds[stored.id] = stored
            await self._save()
            return stored.model_copy()

    async def get_credential(self, org_id: str, provider: str) -> Credential | None:
        for cred in self._creds.values():
            if cred.org_id == org_id and cred.provider == provider:
                return cred.model_copy()
        return None

    async def get_credential_by_id(self, org_id: str, credential_id: str) -> Credential | None:
        cred = self._creds.get(credential_id)
        return cred.model_copy() if cred and cred.org_id == org_id else None

    async def list_credentials(
        self, org_id: str, *, limit: int, cursor: str | None = None
    ) -> Page[Credential]:
        rows = sorted(
            (c for c in self._creds.values()
             if c.org_id == org_id and (cursor is None or c.id > cursor)),
            key=lambda c: c.id,
        )[: limit + 1]
        return page_of([c.model_copy() for c in rows], limit, lambda c: c.id)

    async def delete_credential(self, org_id: str, credential_id: str) -> Credential | None:
        async with self._lock:
            cred = self._creds.get(credential_id)
            if cred is None or cred.org_id != org_id:
                return None
            del self._creds[credential_id]
            await self._save()
            return cred

    async def credentials_not_under(self, key_id: str, *, limit: int) -> list[Credential]:
        rows = [c for c in self._creds.values() if c.key_id != key_id]
        return [c.model_copy() for c in sorted(rows, key=lambda c: c.id)[:limit]]
