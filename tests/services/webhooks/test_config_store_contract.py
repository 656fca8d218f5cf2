"""One suite, every webhook configuration store adapter (endpoints and org signing secrets):
memory with its JSON file, Mongo on mongomock, PyMongo over TCP to the wire front and to a real
MongoDB when MONGODB_CONNECTION_URI is set."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.webhooks.models import Endpoint, SigningSecret
from services.webhooks.runtime import create_config_store
from services.webhooks.store import WebhookConfigStore
from tests.services.config.adapters import ADAPTERS, Adapter, open_adapter


@pytest.fixture(params=ADAPTERS)
async def adapter(
    request: pytest.FixtureRequest, tmp_path: Path, unique: str
) -> AsyncIterator[Adapter[WebhookConfigStore]]:
    async with open_adapter(request, create_config_store, tmp_path, unique) as opened:
        yield opened


async def test_endpoints_are_scoped_listed_oldest_first_and_deleted(adapter: Adapter[WebhookConfigStore]) -> None:
    store = adapter.store
    first = Endpoint(org_id="org-a", url="https://a.example/1", created_at=1.0,
                     secrets=[SigningSecret(value="whsec_one")])
    second = Endpoint(org_id="org-a", url="https://a.example/2", created_at=2.0)
    theirs = Endpoint(org_id="org-b", url="https://b.example/")
    for endpoint in (second, first, theirs):
        await store.put_endpoint(endpoint)
    assert [e.id for e in await store.list_endpoints("org-a")] == [first.id, second.id]
    assert await store.get_endpoint("org-b", first.id) is None
    got = await store.get_endpoint("org-a", first.id)
    assert got is not None and got.secrets[0].value == "whsec_one"
    first.description = "edited"
    await store.put_endpoint(first)
    assert (await store.get_endpoint("org-a", first.id)).description == "edited"  # type: ignore[union-attr]
    assert not await store.delete_endpoint("org-b", first.id)
    assert await store.delete_endpoint("org-a", first.id)
    assert [e.id for e in await store.list_endpoints("org-a")] == [second.id]


async def test_the_first_org_secret_wins_and_survives_a_reopen(adapter: Adapter[WebhookConfigStore]) -> None:
    store = adapter.store
    results = await asyncio.gather(*(
        store.org_secrets("org-a", [SigningSecret(value=f"whsec_{i}")]) for i in range(5)))
    values = {r[0].value for r in results}
    assert len(values) == 1
    again = await adapter.reopen()
    assert (await again.org_secrets("org-a", [SigningSecret(value="whsec_new")]))[0].value in values
    await again.put_org_secrets("org-a", [SigningSecret(value="whsec_rotated"),
                                          SigningSecret(value=values.pop(), expires_at=5.0)])
    third = await adapter.reopen()
    kept = await third.org_secrets("org-a", [])
    assert kept[0].value == "whsec_rotated" and kept[1].expires_at == 5.0
    endpoint = Endpoint(org_id="org-a", url="https://a.example/")
    await third.put_endpoint(endpoint)
    assert [e.id for e in await (await adapter.reopen()).list_endpoints("org-a")] == [endpoint.id]
