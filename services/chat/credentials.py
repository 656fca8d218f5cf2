"""Where the executor gets a provider credential for an org: a hook, so per-org encrypted
credentials can replace the environment without touching the executor.

A credential only ever travels from the resolver to the provider adapter's call: it is
never put in a result, a job record, a log line or an error message.
"""

from __future__ import annotations

from typing import Protocol


class CredentialResolver(Protocol):
    async def __call__(self, org_id: str, provider: str) -> str | None:
        """The API key `org_id` uses for `provider`, or None (the adapter's own default)."""


class EnvCredentials:
    """The default: one key per provider from the process environment (registry's rules)."""

    def __init__(self) -> None:
        try:
            from services.providers.registry import credentials_from_env
        except ImportError:
            self._lookup = None
        else:
            self._lookup = credentials_from_env

    async def __call__(self, org_id: str, provider: str) -> str | None:
        return self._lookup(provider) if self._lookup is not None else None
