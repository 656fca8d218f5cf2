"""In-process API key store, saved to the embedded JSON file when given one.

Every read returns a copy, as a database would, so a caller editing what it got back never
changes the stored record behind the store's back.
"""

from __future__ import annotations

import asyncio

from services.auth.keys import ApiKey
from services.config.json_file import JsonFile

COLLECTION = "api_keys"


class MemoryApiKeyStore:
    def __init__(self, file: JsonFile | None = None) -> None:
        self._file = file
        self._keys: dict[str, ApiKey] = {}
        self._lock = asyncio.Lock()

    async def connect(self) -> None:
        if self._file is None:
            return
        for raw in self._file.read(COLLECTION):
            key = ApiKey.model_validate(raw)
            self._keys[key.key_hash] = key

    def _save(self) -> None:
        if self._file is not None:
            self._file.write({COLLECTION: [k.model_dump(mode="json") for k in self._keys.values()]})

    async def add_api_key(self, key: ApiKey) -> None:
        async with self._lock:
            self._keys[key.key_hash] = key.model_copy()
            self._save()

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
                    self._save()
                    return True
        return False
