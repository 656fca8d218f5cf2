"""An org's own keys through KeyService over the memory store (authenticating a request
is the Authenticator's: tests/services/auth/test_authenticator.py)."""

from __future__ import annotations

import pytest

from services.auth.memory_store import MemoryApiKeyStore
from services.auth.service import KeyService
from services.errors import NotFound


@pytest.fixture
def store() -> MemoryApiKeyStore:
    return MemoryApiKeyStore()


@pytest.fixture
def keys(store: MemoryApiKeyStore) -> KeyService:
    return KeyService(store)


async def test_a_created_key_is_stored_hashed_under_its_org(
    keys: KeyService, store: MemoryApiKeyStore,
) -> None:
    raw, record = await keys.create("acme", "ci")
    assert raw.startswith("aim_") and record.org_id == "acme" and raw not in record.key_hash
    assert (await store.find_api_key(record.key_hash)) == record
    assert [k.id for k in await store.list_api_keys("acme")] == [record.id]


async def test_revoking_another_orgs_key_is_not_found(keys: KeyService) -> None:
    _, record = await keys.create("acme")
    with pytest.raises(NotFound):
        await keys.revoke("other", record.id)
    assert (await keys.store.find_api_key(record.key_hash)) is not None  # still live
    await keys.revoke("acme", record.id)
    assert (await keys.store.find_api_key(record.key_hash)) is None


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
