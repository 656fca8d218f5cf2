"""How a worker (or the API on the inline path) finds the key for a provider call:
the org's own stored credential first, then the process environment."""

from __future__ import annotations

from services.credentials.service import CredentialService
from services.providers.registry import credentials_from_env


class OrgCredentials:
    """The chat runtime's credential hook (services.chat.credentials.CredentialResolver)."""

    def __init__(self, credentials: CredentialService) -> None:
        self._credentials = credentials

    async def __call__(self, org_id: str, provider: str) -> str | None:
        """The API key `org_id` uses for `provider`: its stored credential, else the
        environment's (`<PROVIDER>_API_KEY`), else None."""
        secret = await self._credentials.secret_for(org_id, provider)
        if secret is not None:
            return secret
        return credentials_from_env(provider)
