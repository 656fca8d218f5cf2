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
        self._generation = -1

    async def connect(self) -> None:
        self._refresh()

    def _refresh(self) -> None:
        """Reload the keys when the file changed on disk (`keys create` run by another
        process), so they are seen and the next save does not erase them."""
        if self._file is None:
            return
        self._file.sync()
        if self._file.generation == self._generation:
            return
        self._generation = self._file.generation
        self._keys = {}
        for raw in self._file.read(COLLECTION):
            key = ApiKey.model_validate(raw)
            self._keys[key.key_hash] = key

    def _save(self) -> None:
        if self._file is not None:
            self._file.write({COLLECTION: [k.model_dump(mode="json") for k in self._keys.values()]})

    async def add_api_key(self, key: ApiKey) -> None:
        async with self._lock:
            self._refresh()
            self._keys[key.key_hash] = key.model_copy()
            self._save()

    async def find_api_key(self, key_hash: str) -> ApiKey | None:
        if key_hash not in self._keys:
            self._refresh()
        key = self._keys.get(key_hash)
        return key.model_copy() if key and not key.revoked else None

    async def list_api_keys(self, org_id: str) -> list[ApiKey]:
        self._refresh()
        return [k.model_copy() for k in self._keys.values() if k.org_id == org_id]

    async def revoke_api_key(self, org_id: str, key_id: str) -> bool:
        async with self._lock:
            self._refresh()
            for key in self._keys.values():
                if key.id == key_id and key.org_id == org_id:
                    key.revoked = True
                    self._save()
                    return True
        return False
