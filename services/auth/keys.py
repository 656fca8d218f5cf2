"""Platform API keys: generated once, stored only as a SHA-256 hash with a visible prefix.

A key reads `aim_<prefix>_<secret>`: the 8-character prefix identifies it in listings and
logs; the secret (32 bytes, URL-safe base64) never leaves the response that created it.
SHA-256 without a salt is the right hash here: the secret has 256 bits of entropy, so there
is nothing to brute-force, and a lookup must cost microseconds on every request.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from pydantic import BaseModel, Field

from services.auth.scopes import ALL_SCOPES

KEY_SCHEME = "aim"


class ApiKey(BaseModel):
    id: str = Field(default_factory=lambda: "key_" + secrets.token_hex(8))
    org_id: str
    name: str = ""
    prefix: str
    key_hash: str
    created_at: float = Field(default_factory=time.time)
    revoked: bool = False
    # What the key may do (services/auth/scopes.py); keys made before scopes existed hold all.
    scopes: list[str] = Field(default_factory=lambda: list(ALL_SCOPES))
    # Unix time after which the key is refused; None: never.
    expires_at: float | None = None


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def generate_key(
    org_id: str, name: str = "", *, scopes: list[str] | None = None, expires_at: float | None = None,
) -> tuple[str, ApiKey]:
    """Return (the raw key, shown once; the record to store)."""
    prefix = secrets.token_hex(4)
    raw = f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
    record = ApiKey(org_id=org_id, name=name, prefix=prefix, key_hash=hash_key(raw), expires_at=expires_at,
                    scopes=list(ALL_SCOPES) if scopes is None else scopes)
    return raw, record
