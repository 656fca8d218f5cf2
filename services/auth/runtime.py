"""Builds the API key store over the config backend chosen from the settings."""

from __future__ import annotations

from services.auth.store import ApiKeyStore
from services.config.factory import ConfigBackend


def create_key_store(backend: ConfigBackend) -> ApiKeyStore:
    if backend.mongo is not None:
        from services.auth.mongo_store import MongoApiKeyStore

        return MongoApiKeyStore(backend.mongo)
    from services.auth.memory_store import MemoryApiKeyStore

    return MemoryApiKeyStore(backend.file)
