"""An org's chatbot authentication settings: the HS256 signing secret (sealed with
AES-GCM, never stored or returned in clear after creation), RS256/ES256 public keys it
registered, and the browser origins allowed to call the chatbot API (none by default)."""

from __future__ import annotations

import time
from typing import Literal

from pydantic import BaseModel, Field

KID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
MAX_PUBLIC_KEYS = 10
MAX_ORIGINS = 50


class PublicKey(BaseModel):
    kid: str = Field(pattern=KID_PATTERN)
    alg: Literal["RS256", "ES256"]
    pem: str = Field(min_length=1, max_length=10_000)
    created_at: float = Field(default_factory=time.time)


class ChatbotAuth(BaseModel):
    org_id: str
    # AES-GCM ciphertext of the signing secret (services/common/crypto.py), bound to the org.
    secret_sealed: str | None = None
    # The secret's last 4 characters, to tell secrets apart in the dashboard.
    secret_hint: str | None = None
    secret_created_at: float | None = None
    public_keys: list[PublicKey] = Field(default_factory=list)
    allowed_origins: list[str] = Field(default_factory=list)
    updated_at: float = Field(default_factory=time.time)

    def public(self) -> dict[str, object]:
        """What the API shows: never the secret, only whether one exists and its hint."""
        return {
            "has_secret": self.secret_sealed is not None,
            "secret": f"cbs_...{self.secret_hint}" if self.secret_hint else None,
            "secret_created_at": self.secret_created_at,
            "public_keys": [k.model_dump(include={"kid", "alg", "created_at"}) for k in self.public_keys],
            "allowed_origins": self.allowed_origins,
        }
