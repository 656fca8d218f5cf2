"""Authentication and an org's own keys, through KeyService over the memory store."""

from __future__ import annotations

import pytest

from services.auth.memory_store import MemoryApiKeyStore
from services.auth.service import KeyService
from services.errors import NotFound, Unauthorized


@pytest.fixture
def store() -> MemoryApiKeyStore:
    return MemoryApiKeyStore()


@pytest.fixture
def keys(store: MemoryApiKeyStore) -> KeyService:
    return KeyService(store)


async def test_a_created_key_authenticates_as_its_org_and_is_stored_hashed(
    keys: KeyService, store: MemoryApiKeyStore,
) -> None:
    raw, record = await keys.create("acme", "ci")
    assert raw.startswith("aim_") and record.org_id == "acme" and raw not in record.key_hash
    assert await keys.authenticate(f"Bearer {raw}") == "acme"
    assert await keys.authenticate(f"bearer  {raw} ") == "acme"
    assert [k.id for k in await store.list_api_keys("acme")] == [record.id]


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer sk-not-ours", "Bearer aim_x_unknown"])
async def test_missing_malformed_or_unknown_keys_are_refused(keys: KeyService, header: str | None) -> None:
    with pytest.raises(Unauthorized):
        await keys.authenticate(header)


async def test_a_revoked_key_is_refused_once_the_cache_forgets_it(keys: KeyService) -> None:
    raw, record = await keys.create("acme")
    assert await keys.authenticate(f"Bearer {raw}") == "acme"
    await keys.revoke("acme", record.id)
    # Another process (a fresh cache over the same store) refuses it at once ...
    with pytest.raises(Unauthorized):
        await KeyService(keys.store).authenticate(f"Bearer {raw}")
    # ... and this one as soon as its cache entry goes.
    keys.cache.clear()
    with pytest.raises(Unauthorized):
        await keys.authenticate(f"Bearer {raw}")


async def test_revoking_another_orgs_key_is_not_found(keys: KeyService) -> None:
    raw, record = await keys.create("acme")
    with pytest.raises(NotFound):
        await keys.revoke("other", record.id)
    assert await keys.authenticate(f"Bearer {raw}") == "acme"


async def test_keys_are_listed_oldest_first_in_pages_per_org(keys: KeyService) -> None:
    made = [(await keys.create("acme", f"k{i}"))[1].id for i in range(5)]
    await keys.create("other")
    seen: list[str] = []
    cursor = None
    while True:
        page = await keys.list("acme", limit=2, cursor=cursor)
        seen += [k.id for k in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == made


async def test_registering_a_raw_key_twice_stores_it_once(
    keys: KeyService, store: MemoryApiKeyStore,
) -> None:
    raw = "aim_devabcd_0123456789abcdef"
    await keys.register_raw("dev", raw, name="development")
    await keys.register_raw("dev", raw, name="development")
    assert [k.prefix for k in await store.list_api_keys("dev")] == ["devabcd"]
    assert await keys.authenticate(f"Bearer {raw}") == "dev"
