"""Builds the credential store over the config backend, and the credential service (with
the key ring from ENCRYPTION_KEYS) over the store."""

from __future__ import annotations

from config import Settings
from services.common.crypto import KeyRing
from services.config.cache import ConfigCache
from services.config.factory import ConfigBackend
from services.credentials.service import CredentialService
from services.credentials.store import CredentialStore


def create_credential_store(backend: ConfigBackend) -> CredentialStore:
    if backend.mongo is not None:
        from services.credentials.mongo_store import MongoCredentialStore

        return MongoCredentialStore(backend.mongo)
    from services.credentials.memory_store import MemoryCredentialStore

    return MemoryCredentialStore(backend.file)


def build_credential_service(
    settings: Settings, store: CredentialStore, cache: ConfigCache
) -> CredentialService:
    return CredentialService(
        store, KeyRing.from_settings(settings.security), cache,
        open_providers=settings.providers.openai_compatible,
    )
