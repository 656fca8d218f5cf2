"""In-process config store; saved to a JSON file when given a path."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from services.auth.keys import ApiKey


class MemoryConfigStore:
    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._keys: dict[str, ApiKey] = {}
        self._lock = asyncio.Lock()

    async def connect(self) -> None:
        if self._path and self._path.exists():
            data = orjson.loads(self._path.read_bytes())
            for raw in data.get("api_keys", []):
                key = ApiKey.model_validate(raw)
                self._keys[key.key_hash] = key

    async def _save(self) -> None:
        if not self._path:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        data = {"api_keys": [k.model_dump() for k in self._keys.values()]}
        tmp = self._path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
        tmp.replace(self._path)

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def add_api_key(self, key: ApiKey) -> None:
        async with self._lock:
            self._keys[key.key_hash] = key
            await self._save()

    async def find_api_key(self, key_hash: str) -> ApiKey | None:
        key = self._keys.get(key_hash)
        return key if key and not key.revoked else None

    async def list_api_keys(self, org_id: str) -> list[ApiKey]:
        return [k for k in self._keys.values() if k.org_id == org_id]

    async def revoke_api_key(self, org_id: str, key_id: str) -> bool:
        async with self._lock:
            for key in self._keys.values():
                if key.id == key_id and key.org_id == org_id:
                    key.revoked = True
                    await self._save()
                    return True
        return False
