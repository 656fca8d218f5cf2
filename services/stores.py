"""The configuration repositories (API keys, bridges, provider credentials, webhook
endpoints and signing secrets) and the
services over them, built from the settings alone: no process Context needed, so the
composition root, the CLI (`python index.py keys create`) and tests build them the same way.

Every store sits on one shared backend (services/config/factory.py): one AsyncMongoClient
per process when MONGODB_CONNECTION_URI is set, else one JSON file under APP_DATA_DIR.
This module lives outside `services/config/` because it knows every domain, and
`services/config/` must know none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from config import Settings
from services.auth.runtime import create_key_store
from services.auth.store import ApiKeyStore
from services.bridges.runtime import build_bridge_service, create_bridge_store
from services.bridges.service import BridgeService
from services.bridges.store import BridgeStore
from services.config.cache import ConfigCache
from services.config.factory import ConfigBackend, create_backend
from services.config.runtime import start_config_cache
from services.credentials.runtime import build_credential_service, create_credential_store
from services.credentials.service import CredentialService
from services.credentials.store import CredentialStore
from services.webhooks.runtime import create_config_store
from services.webhooks.store import WebhookConfigStore

if TYPE_CHECKING:
    from redis.asyncio import Redis


@dataclass
class Stores:
    keys: ApiKeyStore
    bridges: BridgeStore
    credentials: CredentialStore
    backend: ConfigBackend
    # Webhook endpoints and org signing secrets: never only in Redis.
    webhooks: WebhookConfigStore

    async def connect(self) -> None:
        """Open the backend, then let each store create its indexes or load its records."""
        await self.backend.connect()
        for store in (self.keys, self.bridges, self.credentials, self.webhooks):
            await store.connect()

    async def close(self) -> None:
        await self.backend.close()

    async def ping(self) -> None:
        await self.backend.ping()


def create_stores(settings: Settings) -> Stores:
    """Mongo stores when settings.mongo.url is set, memory stores otherwise. Nothing is
    opened until `connect()`."""
    backend = create_backend(settings)
    return Stores(
        keys=create_key_store(backend), bridges=create_bridge_store(backend),
        credentials=create_credential_store(backend), backend=backend,
        webhooks=create_config_store(backend),
    )


@dataclass
class ConfigServices:
    bridges: BridgeService
    credentials: CredentialService
    cache: ConfigCache

    async def close(self) -> None:
        await self.cache.close()


async def start_config_services(
    settings: Settings, stores: Stores, redis: Redis | None
) -> ConfigServices:
    """The bridge and credential services over `stores`, sharing one started config cache
    (invalidated across processes through `redis` when given). Close it at shutdown."""
    cache = await start_config_cache(settings, redis)
    return ConfigServices(
        bridges=build_bridge_service(settings, stores.bridges, cache),
        credentials=build_credential_service(settings, stores.credentials, cache),
        cache=cache,
    )
