"""One suite, every API key store adapter: memory, Mongo on mongomock, PyMongo
over TCP to the wire front and to a real MongoDB (when MONGODB_CONNECTION_URI is set).
What passes here behaves the same in production."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from services.auth.keys import generate_key
from services.auth.runtime import create_key_store
from services.auth.store import ApiKeyStore
from tests.services.config.adapters import ADAPTERS, Adapter, open_adapter

ORG_A, ORG_B = "org_a", "org_b"


@pytest.fixture(params=ADAPTERS)
async def adapter(
    request: pytest.FixtureRequest, tmp_path: Path, unique: str
) -> AsyncIterator[Adapter[ApiKeyStore]]:
    async with open_adapter(request, create_key_store, tmp_path, unique) as opened:
        yield opened


async def test_api_keys_are_found_by_hash_listed_per_org_and_revoked(
    adapter: Adapter[ApiKeyStore],
) -> None:
    store = adapter.store
    raw_a, key_a = generate_key(ORG_A, "ci")
    _, key_b = generate_key(ORG_B)
    await store.add_api_key(key_a)
    await store.add_api_key(key_b)
    found = await store.find_api_key(key_a.key_hash)
    assert found is not None and found.org_id == ORG_A and found.id == key_a.id
    assert [k.id for k in await store.list_api_keys(ORG_A)] == [key_a.id]
    assert not await store.revoke_api_key(ORG_B, key_a.id)
    assert await store.revoke_api_key(ORG_A, key_a.id)
    assert await store.find_api_key(key_a.key_hash) is None
    assert raw_a not in orjson.dumps(await adapter.raw("api_keys"), default=str).decode()


async def test_api_key_hash_is_unique(adapter: Adapter[ApiKeyStore]) -> None:
    if adapter.name == "memory":
        pytest.skip("the memory store keys its dict by hash: a duplicate replaces")
    _, key = generate_key(ORG_A)
    await adapter.store.add_api_key(key)
    with pytest.raises(Exception, match=r"(?i)duplicate"):
        await adapter.store.add_api_key(key.model_copy(update={"id": "key_other"}))


async def test_a_reopened_store_sees_every_key(adapter: Adapter[ApiKeyStore]) -> None:
    _, key = generate_key(ORG_A)
    _, revoked = generate_key(ORG_A)
    await adapter.store.add_api_key(key)
    await adapter.store.add_api_key(revoked)
    await adapter.store.revoke_api_key(ORG_A, revoked.id)
    again = await adapter.reopen()
    assert await again.find_api_key(key.key_hash) is not None
    assert await again.find_api_key(revoked.key_hash) is None
    assert {k.id for k in await again.list_api_keys(ORG_A)} == {key.id, revoked.id}
