"""The key cache: revocations evict at once, an unsubscribed process trusts no cached hit."""

from __future__ import annotations

import pytest

from services.auth.authenticator import Authenticator
from services.auth.keys import ApiKey, generate_key
from services.auth.memory_revocation_store import MemoryKeyUsageStore, MemoryRevocationBus
from services.errors import Unauthorized


class Store:
    def __init__(self) -> None:
        self.keys: dict[str, ApiKey] = {}
        self.reads = 0

    async def find(self, key_hash: str) -> ApiKey | None:
        self.reads += 1
        found = self.keys.get(key_hash)
        return None if found is None or found.revoked else found


async def test_a_revocation_evicts_the_cached_key() -> None:
    store, bus = Store(), MemoryRevocationBus()
    auth = Authenticator(store.find, bus, MemoryKeyUsageStore(), ttl_s=300)
    await auth.start()
    raw, record = generate_key("org", scopes=["jobs:read"])
    store.keys[record.key_hash] = record
    principal = await auth.authenticate(f"Bearer {raw}")
    assert principal.org_id == "org" and principal.scopes == frozenset({"jobs:read"})
    await auth.authenticate(f"Bearer {raw}")
    assert store.reads == 1  # the second one was a cache hit
    store.keys[record.key_hash] = record.model_copy(update={"revoked": True})
    await auth.revoked(record.id)
    with pytest.raises(Unauthorized):
        await auth.authenticate(f"Bearer {raw}")
    await auth.close()  # flushes the usage counts
    [(count, last_used)] = (await auth.usage.read([record.id])).values()
    assert count == 2 and last_used is not None


async def test_without_a_live_channel_every_request_reads_the_store() -> None:
    class Deaf(MemoryRevocationBus):
        live = False

    store = Store()
    auth = Authenticator(store.find, Deaf(), MemoryKeyUsageStore(), ttl_s=300)
    raw, record = generate_key("org")
    store.keys[record.key_hash] = record
    for _ in range(3):
        await auth.authenticate(f"Bearer {raw}")
    assert store.reads == 3


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer sk-not-ours", "Bearer aim_unknown_key"])
async def test_bad_headers_are_401(header: str | None) -> None:
    auth = Authenticator(Store().find, MemoryRevocationBus(), MemoryKeyUsageStore())
    with pytest.raises(Unauthorized):
        await auth.authenticate(header)
