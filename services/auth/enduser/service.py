"""An org manages its chatbot authentication: the HS256 signing secret (created or
rotated, shown once, sealed at rest), RS256/ES256 public keys, and allowed origins.

Rotation replaces the secret at once: tokens signed with the old one stop verifying within
CHATBOT_KEY_CACHE_S (10 s). Tokens are short-lived, so an integrator rotates by switching
its backend to the new secret and letting outstanding tokens (re-)issue.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from services.auth.enduser.keys import SECRET_PREFIX, aad, load_public_key
from services.auth.enduser.model import MAX_ORIGINS, MAX_PUBLIC_KEYS, ChatbotAuth, PublicKey
from services.auth.enduser.store import ChatbotAuthStore
from services.common.crypto import KeyRing
from services.errors import Conflict, Invalid, NotFound


def check_origin(origin: str, field: str) -> str:
    """`scheme://host[:port]` exactly as a browser sends it in the Origin header."""
    parts = urlsplit(origin)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.path or parts.query or parts.fragment:
        raise Invalid("an origin is scheme://host[:port], e.g. https://shop.example.com", field=field)
    return origin.lower().rstrip("/")


class ChatbotAuthService:
    def __init__(self, store: ChatbotAuthStore, keyring: KeyRing, *,
                 on_change: Callable[[str], None] | None = None) -> None:
        self._store, self._keyring = store, keyring
        # Told the org id after each change (the token verifier's cache drops it).
        self._on_change = on_change or (lambda org_id: None)

    async def _record(self, org_id: str) -> ChatbotAuth:
        return await self._store.get(org_id) or ChatbotAuth(org_id=org_id)

    async def _save(self, record: ChatbotAuth) -> None:
        record.updated_at = time.time()
        await self._store.put(record)
        self._on_change(record.org_id)

    async def get(self, org_id: str) -> ChatbotAuth:
        return await self._record(org_id)

    async def rotate_secret(self, org_id: str) -> tuple[str, ChatbotAuth]:
        """Create (or replace) the org's signing secret; the only time it is returned."""
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        record = await self._record(org_id)
        record.secret_sealed = self._keyring.encrypt(secret, aad=aad(org_id))
        record.secret_hint, record.secret_created_at = secret[-4:], time.time()
        await self._save(record)
        return secret, record

    async def delete_secret(self, org_id: str) -> None:
        record = await self._record(org_id)
        if record.secret_sealed is None:
            raise NotFound("this org has no chatbot signing secret", code="secret_not_found")
        record.secret_sealed = record.secret_hint = record.secret_created_at = None
        await self._save(record)

    async def add_public_key(self, org_id: str, key: PublicKey) -> ChatbotAuth:
        load_public_key(key.alg, key.pem)
        record = await self._record(org_id)
        if any(k.kid == key.kid for k in record.public_keys):
            raise Conflict(f"a key with kid {key.kid!r} exists: delete it first", code="kid_taken", field="kid")
        if len(record.public_keys) >= MAX_PUBLIC_KEYS:
            raise Invalid(f"at most {MAX_PUBLIC_KEYS} public keys per org", field="kid")
        record.public_keys.append(key)
        await self._save(record)
        return record

    async def delete_public_key(self, org_id: str, kid: str) -> None:
        record = await self._record(org_id)
        kept = [k for k in record.public_keys if k.kid != kid]
        if len(kept) == len(record.public_keys):
            raise NotFound(f"public key {kid} not found", code="key_not_found")
        record.public_keys = kept
        await self._save(record)

    async def set_origins(self, org_id: str, origins: list[str]) -> ChatbotAuth:
        if len(origins) > MAX_ORIGINS:
            raise Invalid(f"at most {MAX_ORIGINS} origins", field="origins")
        record = await self._record(org_id)
        record.allowed_origins = sorted({check_origin(o, f"origins.{i}") for i, o in enumerate(origins)})
        await self._save(record)
        return record
