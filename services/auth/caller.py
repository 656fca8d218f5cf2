"""The authenticated caller of one request."""

from __future__ import annotations

from dataclasses import dataclass

from services.auth.keys import ApiKey


@dataclass(frozen=True)
class Caller:
    key_id: str
    org_id: str
    scopes: frozenset[str]
    expires_at: float | None = None

    @classmethod
    def of(cls, key: ApiKey) -> Caller:
        return cls(key_id=key.id, org_id=key.org_id, scopes=frozenset(key.scopes), expires_at=key.expires_at)
