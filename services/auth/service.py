"""An org's own platform API keys: create (the raw key is shown once, stored hashed), list,
revoke. Resolving `Authorization: Bearer <key>` on each request is the Authenticator's
(services/auth/authenticator.py: cached, revocations broadcast to every process)."""

from __future__ import annotations

from services.auth.keys import ApiKey, generate_key, hash_key
from services.auth.store import ApiKeyStore
from services.config.paging import Page
from services.errors import NotFound


class KeyService:
    def __init__(self, store: ApiKeyStore) -> None:
        self.store = store

    async def create(
        self, org_id: str, name: str = "", *, scopes: list[str] | None = None, expires_at: float | None = None,
    ) -> tuple[str, ApiKey]:
        """Create and store a key for `org_id`: (the raw key, shown once; its record)."""
        raw, record = generate_key(org_id, name, scopes=scopes, expires_at=expires_at)
        await self.store.add_api_key(record)
        return raw, record

    async def register_raw(self, org_id: str, raw: str, name: str = "") -> None:
        """Store a caller-chosen key (the development key from APP_DEV_API_KEY)."""
        if await self.store.find_api_key(hash_key(raw)) is None:
            prefix = raw.split("_")[1] if raw.count("_") >= 2 else raw[:8]
            await self.store.add_api_key(
                ApiKey(org_id=org_id, name=name, prefix=prefix, key_hash=hash_key(raw))
            )

    async def list(self, org_id: str, *, limit: int, cursor: str | None) -> Page[ApiKey]:
        """Oldest first. An org holds a handful of keys, so the page is cut in memory."""
        keys = sorted(await self.store.list_api_keys(org_id), key=lambda k: (k.created_at, k.id))
        if cursor is not None:
            ids = [k.id for k in keys]
            keys = keys[ids.index(cursor) + 1:] if cursor in ids else []
        more = len(keys) > limit
        keys = keys[:limit]
        return Page(items=keys, next_cursor=keys[-1].id if more else None)

    async def revoke(self, org_id: str, key_id: str) -> None:
        """Stores the revocation; the caller broadcasts it (Authenticator.revoked)."""
        if not await self.store.revoke_api_key(org_id, key_id):
            raise NotFound(f"API key {key_id!r} not found", code="api_key_not_found")
