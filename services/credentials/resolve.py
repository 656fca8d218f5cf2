"""How a worker (or the API on the inline path) finds the key for a provider call:
the org's own stored credential first, then the process environment."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.providers.registry import credentials_from_env

if TYPE_CHECKING:
    from services.context import Context


async def resolve_credential(ctx: Context, org_id: str, provider: str) -> str | None:
    """The API key `org_id` uses for `provider`: its stored credential, else the
    environment's (`<PROVIDER>_API_KEY`), else None."""
    secret = await ctx.credentials.secret_for(org_id, provider)
    if secret is not None:
        return secret
    return credentials_from_env(provider)


class OrgCredentials:
    """`resolve_credential` as the chat runtime's credential hook
    (services.chat.credentials.CredentialResolver)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def __call__(self, org_id: str, provider: str) -> str | None:
        return await resolve_credential(self._ctx, org_id, provider)
