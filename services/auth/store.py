"""The platform API key repository port.

Adapters: `memory_store.MemoryApiKeyStore` (dicts, saved to the embedded JSON file so that
`python index.py keys create` survives a restart) and `mongo_store.MongoApiKeyStore`
(collection `api_keys`). tests/services/auth/test_store_contract.py runs one suite
against both. Keys are stored hashed only (services/auth/keys.py).
"""

from __future__ import annotations

from typing import Protocol

from services.auth.keys import ApiKey


class ApiKeyStore(Protocol):
    async def connect(self) -> None:
        """Create indexes (Mongo) or load the saved keys (memory)."""

    async def add_api_key(self, key: ApiKey) -> None: ...

    async def find_api_key(self, key_hash: str) -> ApiKey | None:
        """The live (not revoked) key with this hash."""

    async def list_api_keys(self, org_id: str) -> list[ApiKey]:
        """Every key of the org, revoked ones included."""

    async def revoke_api_key(self, org_id: str, key_id: str) -> bool:
        """False when the org has no key with this id."""
