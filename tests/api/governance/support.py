"""Helpers for governance tests: keys with chosen scopes on a test platform."""

from __future__ import annotations

from services.context import Context


async def scoped_key(ctx: Context, org: str, scopes: list[str] | None = None,
                     expires_at: float | None = None) -> tuple[dict[str, str], str]:
    """(Authorization header, key id) of a new key of `org` holding `scopes`."""
    raw, record = await ctx.keys.create(org, "test", scopes=scopes, expires_at=expires_at)
    return {"Authorization": f"Bearer {raw}"}, record.id
