"""An org's own platform API keys: create (the raw key is shown once), list, revoke."""

from __future__ import annotations

from services.auth.keys import ApiKey, generate_key
from services.config.paging import Page
from services.config.store import ConfigStore
from services.errors import NotFound


async def create_key(
    store: ConfigStore, org_id: str, name: str, *, scopes: list[str] | None = None, expires_at: float | None = None,
) -> tuple[str, ApiKey]:
    raw, record = generate_key(org_id, name, scopes=scopes, expires_at=expires_at)
    await store.add_api_key(record)
    return raw, record


async def list_keys(
    store: ConfigStore, org_id: str, *, limit: int, cursor: str | None
) -> Page[ApiKey]:
    """Oldest first. An org holds a handful of keys, so the page is cut in memory."""
    keys = sorted(await store.list_api_keys(org_id), key=lambda k: (k.created_at, k.id))
    if cursor is not None:
        ids = [k.id for k in keys]
        keys = keys[ids.index(cursor) + 1:] if cursor in ids else []
    more = len(keys) > limit
    keys = keys[:limit]
    return Page(items=keys, next_cursor=keys[-1].id if more else None)


async def revoke_key(store: ConfigStore, org_id: str, key_id: str) -> None:
    """Stores the revocation; the caller broadcasts it (services/auth/authenticator.py)."""
    if not await store.revoke_api_key(org_id, key_id):
        raise NotFound(f"API key {key_id!r} not found", code="api_key_not_found")
