"""The delivery path's endpoint cache: fresh for its TTL, dropped on local writes."""

from __future__ import annotations

from services.webhooks.cache import EndpointCache
from services.webhooks.memory_store import MemoryWebhookStore
from services.webhooks.models import Endpoint


async def test_changes_from_elsewhere_show_after_the_ttl_and_local_ones_at_once() -> None:
    now = [100.0]
    store = MemoryWebhookStore(600)
    cache = EndpointCache(store, ttl_s=1.0, clock=lambda: now[0])
    endpoint = Endpoint(org_id="org-a", url="https://a.example/")
    await store.put_endpoint(endpoint)
    assert (await cache.get("org-a", endpoint.id)).enabled is True  # type: ignore[union-attr]

    endpoint.enabled = False
    await store.put_endpoint(endpoint)  # another process disables it
    assert (await cache.get("org-a", endpoint.id)).enabled is True  # type: ignore[union-attr]
    now[0] += 1.01
    assert (await cache.get("org-a", endpoint.id)).enabled is False  # type: ignore[union-attr]

    await store.delete_endpoint("org-a", endpoint.id)
    cache.forget("org-a", endpoint.id)  # this process deleted it
    assert await cache.get("org-a", endpoint.id) is None
    assert await cache.get("org-b", endpoint.id) is None
