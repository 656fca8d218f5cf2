"""Builds the bridge store over the config backend, and the bridge service over the store."""

from __future__ import annotations

from config import Settings
from services.bridges.service import BridgeService
from services.bridges.store import BridgeStore
from services.bridges.validate import UrlPolicies
from services.config.cache import ConfigCache
from services.config.factory import ConfigBackend
from services.net.guard import NetPolicy
from services.webhooks.runtime import policy_from


def create_bridge_store(backend: ConfigBackend) -> BridgeStore:
    if backend.mongo is not None:
        from services.bridges.mongo_store import MongoBridgeStore

        return MongoBridgeStore(backend.mongo)
    from services.bridges.memory_store import MemoryBridgeStore

    return MemoryBridgeStore(backend.file)


def build_bridge_service(settings: Settings, store: BridgeStore, cache: ConfigCache) -> BridgeService:
    chat = settings.chat
    tools = NetPolicy.build(require_https=settings.app.production, allow_hosts=chat.tool_allow_hosts,
                            allow_cidrs=chat.tool_allow_cidrs)
    return BridgeService(store, cache, open_providers=settings.providers.openai_compatible,
                         url_policies=UrlPolicies(webhook=policy_from(settings), tools=tools))
