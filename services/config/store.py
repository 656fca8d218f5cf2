"""The config store port: orgs' API keys now; bridges, provider credentials, threads later.

Adapters: `memory.MemoryConfigStore` (dicts, optionally saved to a JSON file so that
`python index.py keys create` survives a restart of the embedded platform) and
`mongo.MongoConfigStore` (PyMongo's AsyncMongoClient).
"""

from __future__ import annotations

from typing import Protocol

from services.auth.keys import ApiKey


class ConfigStore(Protocol):
    async def connect(self) -> None:
        """Open connections and create indexes."""

    async def close(self) -> None: ...

    async def ping(self) -> None: ...

    async def add_api_key(self, key: ApiKey) -> None: ...

    async def find_api_key(self, key_hash: str) -> ApiKey | None:
        """The live (not revoked) key with this hash."""

    async def list_api_keys(self, org_id: str) -> list[ApiKey]: ...

    async def revoke_api_key(self, org_id: str, key_id: str) -> bool: ...
