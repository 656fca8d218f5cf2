"""The provider credential repository port: one credential per (org, provider), and the
store only ever sees ciphertext (services/common/crypto.py).

Adapters: `memory_store.MemoryCredentialStore` (dicts, saved to the embedded JSON file) and
`mongo_store.MongoCredentialStore` (collection `credentials`).
tests/services/credentials/test_store_contract.py runs one suite against both. Every read
of an org's credential takes the org id: another org's id simply finds nothing.
"""

from __future__ import annotations

from typing import Protocol

from services.config.paging import Page
from services.credentials.model import Credential


class CredentialStore(Protocol):
    async def connect(self) -> None:
        """Create indexes (Mongo) or load the saved credentials (memory)."""

    async def put_credential(self, credential: Credential) -> Credential:
        """Insert, or replace the org's credential for that provider (keeping its id)."""

    async def get_credential(self, org_id: str, provider: str) -> Credential | None: ...

    async def get_credential_by_id(self, org_id: str, credential_id: str) -> Credential | None: ...

    async def list_credentials(
        self, org_id: str, *, limit: int, cursor: str | None = None
    ) -> Page[Credential]:
        """Oldest first; `cursor` is the previous page's `next_cursor`."""

    async def delete_credential(self, org_id: str, credential_id: str) -> Credential | None:
        """Remove it; return what was removed (None if absent)."""

    async def credentials_not_under(self, key_id: str, *, limit: int) -> list[Credential]:
        """Credentials, any org, sealed by a key other than `key_id` (for re-encryption)."""
