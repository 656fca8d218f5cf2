"""The stored credential: only ciphertext and a masked hint, never the secret itself."""

from __future__ import annotations

import time

from pydantic import BaseModel, Field

from services.config.paging import sortable_id


class Credential(BaseModel):
    id: str = Field(default_factory=lambda: sortable_id("cred"))
    org_id: str
    # The provider (service) it authenticates to: openai, anthropic, groq, mistral...
    provider: str
    name: str = ""
    # `<key_id>:<base64(nonce + ciphertext + tag)>`, see services/common/crypto.py.
    ciphertext: str
    # Which encryption key sealed it, so rotation can find what still needs re-encrypting.
    key_id: str
    # e.g. `sk-...abcd`: enough to recognise the key, useless to anyone who reads it.
    hint: str
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)


def mask(secret: str) -> str:
    """`sk-...abcd`; shorter secrets show only their last 2 characters."""
    if len(secret) >= 12:
        return f"{secret[:3]}...{secret[-4:]}"
    if len(secret) >= 6:
        return f"...{secret[-2:]}"
    return "..."
