"""Provider credentials: save (encrypted), list (masked), delete, and resolve for a call.

The plaintext exists only in the request that saves it and in the worker's memory between
`secret_for` and the provider call; it is never stored, cached in Redis, logged or returned.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection

from services.bridges import catalog
from services.common.crypto import CryptoError, KeyRing
from services.config.cache import ConfigCache
from services.config.paging import Page
from services.credentials.model import Credential, mask
from services.credentials.store import CredentialStore
from services.errors import Invalid, NotFound

log = logging.getLogger(__name__)
# Rows re-encrypted per store round trip during key rotation.
REENCRYPT_BATCH = 100


def associated_data(org_id: str, provider: str) -> str:
    return f"credential:{org_id}:{provider}"


def credential_key(org_id: str, provider: str) -> str:
    return f"cred:{org_id}:{provider}"


class CredentialService:
    def __init__(
        self, store: CredentialStore, keyring: KeyRing, cache: ConfigCache, *,
        open_providers: Collection[str] = (),
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.cache = cache
        self.open_providers = frozenset(open_providers)

    async def put(self, org_id: str, provider: str, secret: str, *, name: str = "") -> Credential:
        if provider not in catalog.providers(self.open_providers) or provider == catalog.MOCK:
            raise Invalid(f"unknown service {provider!r}", field="service")
        secret = secret.strip()
        if not secret:
            raise Invalid("api_key is empty", field="api_key")
        cred = Credential(
            org_id=org_id, provider=provider, name=name, hint=mask(secret),
            ciphertext=self.keyring.encrypt(secret, aad=associated_data(org_id, provider)),
            key_id=self.keyring.primary_id,
        )
        stored = await self.store.put_credential(cred)
        await self.cache.invalidate(credential_key(org_id, provider))
        return stored

    async def list(self, org_id: str, *, limit: int, cursor: str | None) -> Page[Credential]:
        return await self.store.list_credentials(org_id, limit=limit, cursor=cursor)

    async def get(self, org_id: str, credential_id: str) -> Credential:
        found = await self.store.get_credential_by_id(org_id, credential_id)
        if found is None:
            raise NotFound(f"credential {credential_id!r} not found", code="credential_not_found")
        return found

    async def delete(self, org_id: str, credential_id: str) -> None:
        removed = await self.store.delete_credential(org_id, credential_id)
        if removed is None:
            raise NotFound(f"credential {credential_id!r} not found", code="credential_not_found")
        await self.cache.invalidate(credential_key(org_id, removed.provider))

    async def secret_for(self, org_id: str, provider: str) -> str | None:
        """The org's decrypted key for `provider`, or None. Cached in process only (never
        in Redis), as ciphertext; decrypting costs microseconds."""
        found = await self.cache.get(
            credential_key(org_id, provider), Credential,
            lambda: self.store.get_credential(org_id, provider),
            shared=False, cache_missing=True,
        )
        if found is None:
            return None
        try:
            return self.keyring.decrypt(found.ciphertext, aad=associated_data(org_id, provider))
        except CryptoError:
            # Logged without the value: only which record and which key id failed.
            log.error("credential does not decrypt", extra={
                "org_id": org_id, "provider": provider, "key_id": found.key_id,
            })
            return None

    async def reencrypt_all(self) -> int:
        """Re-seal every credential under the primary key (run after adding a new first
        key to ENCRYPTION_KEYS; the old key can be removed once this returns)."""
        done = 0
        while True:
            batch = await self.store.credentials_not_under(
                self.keyring.primary_id, limit=REENCRYPT_BATCH
            )
            if not batch:
                return done
            for cred in batch:
                aad = associated_data(cred.org_id, cred.provider)
                secret = self.keyring.decrypt(cred.ciphertext, aad=aad)
                cred.ciphertext = self.keyring.encrypt(secret, aad=aad)
                cred.key_id, cred.updated_at = self.keyring.primary_id, time.time()
                await self.store.put_credential(cred)
                await self.cache.invalidate(credential_key(cred.org_id, cred.provider))
                done += 1
