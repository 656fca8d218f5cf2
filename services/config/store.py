"""The config store port: platform API keys, bridges and their versions, provider credentials.

Adapters: `memory.MemoryConfigStore` (dicts, optionally saved to a JSON file so that
`python index.py keys create` survives a restart of the embedded platform) and
`mongo.MongoConfigStore` (PyMongo's AsyncMongoClient). tests/services/config/test_contract.py
runs one suite against both. Every read and write of an org's object takes the org id:
another org's id simply finds nothing.
"""

from __future__ import annotations

from typing import Any, Protocol

from services.auth.keys import ApiKey
from services.bridges.model import Bridge, BridgeVersion
from services.config.paging import Page
from services.credentials.model import Credential


class ConfigStore(Protocol):
    async def connect(self) -> None:
        """Open connections and create indexes."""

    async def close(self) -> None: ...

    async def ping(self) -> None: ...

    # Platform API keys.
    async def add_api_key(self, key: ApiKey) -> None: ...

    async def find_api_key(self, key_hash: str) -> ApiKey | None:
        """The live (not revoked) key with this hash."""

    async def list_api_keys(self, org_id: str) -> list[ApiKey]: ...

    async def revoke_api_key(self, org_id: str, key_id: str) -> bool: ...

    # Bridges. Deleted bridges are kept (soft delete) but no read below returns them.
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

    # Provider credentials, one per (org, provider); the store only ever sees ciphertext.
    async def put_credential(self, credential: Credential) -> Credential:
        """Insert, or replace the org's credential for that provider (keeping its id)."""

    async def get_credential(self, org_id: str, provider: str) -> Credential | None: ...

    async def get_credential_by_id(self, org_id: str, credential_id: str) -> Credential | None: ...

    async def list_credentials(
        self, org_id: str, *, limit: int, cursor: str | None = None
    ) -> Page[Credential]: ...

    async def delete_credential(self, org_id: str, credential_id: str) -> Credential | None:
        """Remove it; return what was removed (None if absent)."""

    async def credentials_not_under(self, key_id: str, *, limit: int) -> list[Credential]:
        """Credentials, any org, sealed by a key other than `key_id` (for re-encryption)."""
