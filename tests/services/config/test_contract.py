"""One suite, every config store adapter: memory, Mongo on mongomock, real MongoDB (when
MONGODB_CONNECTION_URI is set). What passes here behaves the same in production."""

from __future__ import annotations

import orjson
import pytest

from config import SecuritySettings
from services.auth.keys import generate_key
from services.bridges.model import Bridge, BridgeSpec, BridgeVersion
from services.config.cache import ConfigCache
from services.credentials.crypto import KeyRing
from services.credentials.crypto import generate_key as new_encryption_key
from services.credentials.service import CredentialService
from services.errors import Conflict
from tests.services.config.conftest import Adapter

ORG_A, ORG_B = "org_a", "org_b"
SECRET = "sk-contract-0123456789-RECOGNISABLE"


def bridge(org: str = ORG_A, slug: str = "support", **kw: object) -> Bridge:
    return Bridge(org_id=org, name=slug.title(), slug=slug, **kw)  # type: ignore[arg-type]


def version_of(b: Bridge, number: int, spec: BridgeSpec | None = None) -> BridgeVersion:
    return BridgeVersion(bridge_id=b.id, org_id=b.org_id, version=number, spec=spec or BridgeSpec())


# Platform API keys.
async def test_api_keys_are_found_by_hash_listed_per_org_and_revoked(adapter: Adapter) -> None:
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


async def test_api_key_hash_is_unique(adapter: Adapter) -> None:
    if adapter.name == "memory":
        pytest.skip("the memory store keys its dict by hash: a duplicate replaces")
    _, key = generate_key(ORG_A)
    await adapter.store.add_api_key(key)
    with pytest.raises(Exception, match=r"(?i)duplicate"):
        await adapter.store.add_api_key(key.model_copy(update={"id": "key_other"}))


# Bridges.
async def test_bridge_round_trip_and_org_scoping(adapter: Adapter) -> None:
    store = adapter.store
    created = bridge(draft=BridgeSpec(system_prompt="Hi {{name}}"))
    await store.insert_bridge(created)
    got = await store.get_bridge(ORG_A, created.id)
    assert got == created
    assert await store.get_bridge(ORG_B, created.id) is None
    assert await store.find_bridge_by_slug(ORG_A, "support") == created
    assert await store.find_bridge_by_slug(ORG_B, "support") is None
    assert (await store.list_bridges(ORG_B, limit=10)).items == []
    assert await store.update_bridge(ORG_B, created.id, {"name": "stolen"}) is None
    assert not await store.delete_bridge(ORG_B, created.id)
    assert await store.reserve_version(ORG_B, created.id) is None
    assert (await store.get_bridge(ORG_A, created.id)) == created


async def test_slug_is_unique_per_org_among_live_bridges(adapter: Adapter) -> None:
    store = adapter.store
    first = bridge()
    await store.insert_bridge(first)
    with pytest.raises(Conflict):
        await store.insert_bridge(bridge())
    await store.insert_bridge(bridge(org=ORG_B))  # another org may use the same slug
    other = bridge(slug="sales")
    await store.insert_bridge(other)
    with pytest.raises(Conflict):
        await store.update_bridge(ORG_A, other.id, {"slug": "support"})
    assert (await store.get_bridge(ORG_A, other.id)).slug == "sales"  # type: ignore[union-attr]
    # Soft delete frees the slug.
    assert await store.delete_bridge(ORG_A, first.id)
    again = bridge()
    await store.insert_bridge(again)
    assert (await store.find_bridge_by_slug(ORG_A, "support")).id == again.id  # type: ignore[union-attr]


async def test_soft_delete_hides_but_keeps_the_record(adapter: Adapter) -> None:
    store = adapter.store
    doomed = bridge()
    await store.insert_bridge(doomed)
    assert await store.delete_bridge(ORG_A, doomed.id)
    assert not await store.delete_bridge(ORG_A, doomed.id)
    assert await store.get_bridge(ORG_A, doomed.id) is None
    assert await store.find_bridge_by_slug(ORG_A, doomed.slug) is None
    assert (await store.list_bridges(ORG_A, limit=10)).items == []
    assert await store.update_bridge(ORG_A, doomed.id, {"name": "x"}) is None
    kept = [d for d in await adapter.raw("bridges") if d.get("_id", d.get("id")) == doomed.id]
    assert len(kept) == 1 and kept[0]["deleted"] is True and kept[0]["deleted_at"]


async def test_update_sets_fields_and_returns_the_new_bridge(adapter: Adapter) -> None:
    store = adapter.store
    created = bridge()
    await store.insert_bridge(created)
    draft = BridgeSpec(model="mock-5ms", system_prompt="v2").model_dump(mode="json")
    updated = await store.update_bridge(
        ORG_A, created.id, {"name": "Renamed", "slug": "renamed", "draft": draft}
    )
    assert updated is not None and updated.name == "Renamed" and updated.slug == "renamed"
    assert updated.draft.system_prompt == "v2"
    assert await store.get_bridge(ORG_A, created.id) == updated
    assert await store.find_bridge_by_slug(ORG_A, "support") is None


async def test_bridges_page_in_creation_order_with_cursors(adapter: Adapter) -> None:
    store = adapter.store
    made = []
    for i in range(7):
        b = bridge(slug=f"b{i}")
        await store.insert_bridge(b)
        made.append(b.id)
    await store.insert_bridge(bridge(org=ORG_B, slug="b-other"))
    await store.delete_bridge(ORG_A, made[3])
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await store.list_bridges(ORG_A, limit=2, cursor=cursor)
        seen += [b.id for b in page.items]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [m for m in made if m != made[3]]
    assert pages == 3


# Versions.
async def test_versions_are_numbered_immutable_and_listed_newest_first(adapter: Adapter) -> None:
    store = adapter.store
    b = bridge()
    await store.insert_bridge(b)
    for expected in (1, 2, 3):
        number = await store.reserve_version(ORG_A, b.id)
        assert number == expected
        spec = BridgeSpec(system_prompt=f"v{number}")
        await store.insert_version(version_of(b, number, spec))
    with pytest.raises(Conflict):
        await store.insert_version(version_of(b, 2))
    got = await store.get_version(ORG_A, b.id, 2)
    assert got is not None and got.spec.system_prompt == "v2"
    assert await store.get_version(ORG_B, b.id, 2) is None
    first = await store.list_versions(ORG_A, b.id, limit=2)
    assert [v.version for v in first.items] == [3, 2]
    rest = await store.list_versions(ORG_A, b.id, limit=2, cursor=first.next_cursor)
    assert [v.version for v in rest.items] == [1] and rest.next_cursor is None
    assert (await store.list_versions(ORG_B, b.id, limit=10)).items == []


async def test_pointing_at_a_version_respects_a_concurrent_publish(adapter: Adapter) -> None:
    store = adapter.store
    b = bridge()
    await store.insert_bridge(b)
    one = await store.reserve_version(ORG_A, b.id)
    two = await store.reserve_version(ORG_A, b.id)
    assert (one, two) == (1, 2)
    # Publish 1 lost the race to publish 2: it must not move the pointer back.
    assert await store.point_to_version(ORG_A, b.id, 1, only_if_latest=True) is None
    pointed = await store.point_to_version(ORG_A, b.id, 2, only_if_latest=True)
    assert pointed is not None and pointed.published_version == 2
    # A rollback moves it regardless.
    rolled = await store.point_to_version(ORG_A, b.id, 1, only_if_latest=False)
    assert rolled is not None and rolled.published_version == 1 and rolled.latest_version == 2
    assert await store.point_to_version(ORG_B, b.id, 1, only_if_latest=False) is None


# Credentials.
def keyring(keys: str) -> KeyRing:
    return KeyRing.from_settings(SecuritySettings(encryption_keys=keys))


def credential_service(adapter: Adapter, ring: KeyRing | None = None) -> CredentialService:
    return CredentialService(adapter.store, ring or keyring(new_encryption_key()), ConfigCache())


async def test_credentials_are_stored_encrypted_never_in_plaintext(adapter: Adapter) -> None:
    creds = credential_service(adapter)
    saved = await creds.put(ORG_A, "openai", SECRET, name="prod")
    assert saved.hint == "sk-...ABLE"
    docs = await adapter.raw("credentials")
    assert len(docs) == 1
    dumped = orjson.dumps(docs, default=str).decode()
    assert SECRET not in dumped
    assert "0123456789" not in dumped  # no fragment of the middle either
    assert docs[0]["ciphertext"].startswith(creds.keyring.primary_id + ":")
    assert await creds.secret_for(ORG_A, "openai") == SECRET


async def test_one_credential_per_org_and_provider_replaced_in_place(adapter: Adapter) -> None:
    creds = credential_service(adapter)
    first = await creds.put(ORG_A, "openai", SECRET)
    second = await creds.put(ORG_A, "openai", "sk-second-key-000000")
    assert second.id == first.id and second.hint == "sk-...0000"
    await creds.put(ORG_A, "anthropic", "sk-ant-abcdefghijkl")
    await creds.put(ORG_B, "openai", "sk-org-b-secret-xyz")
    page = await adapter.store.list_credentials(ORG_A, limit=1)
    assert len(page.items) == 1 and page.next_cursor
    rest = await adapter.store.list_credentials(ORG_A, limit=1, cursor=page.next_cursor)
    assert {page.items[0].provider, rest.items[0].provider} == {"openai", "anthropic"}
    assert await creds.secret_for(ORG_A, "openai") == "sk-second-key-000000"
    assert await creds.secret_for(ORG_B, "openai") == "sk-org-b-secret-xyz"
    assert await creds.secret_for(ORG_B, "anthropic") is None


async def test_credentials_are_scoped_to_their_org(adapter: Adapter) -> None:
    store = adapter.store
    saved = await credential_service(adapter).put(ORG_A, "openai", SECRET)
    assert await store.get_credential(ORG_B, "openai") is None
    assert await store.get_credential_by_id(ORG_B, saved.id) is None
    assert await store.delete_credential(ORG_B, saved.id) is None
    assert (await store.list_credentials(ORG_B, limit=10)).items == []
    removed = await store.delete_credential(ORG_A, saved.id)
    assert removed is not None and removed.id == saved.id
    assert await store.get_credential(ORG_A, "openai") is None


async def test_rotation_re_encrypts_under_the_new_first_key(adapter: Adapter) -> None:
    old, new = new_encryption_key(), new_encryption_key()
    creds = credential_service(adapter, keyring(old))
    await creds.put(ORG_A, "openai", SECRET)
    await creds.put(ORG_B, "groq", "gsk-groq-secret-123456")
    rotated = credential_service(adapter, keyring(f"{new},{old}"))
    assert len(await adapter.store.credentials_not_under(rotated.keyring.primary_id, limit=10)) == 2
    assert await rotated.reencrypt_all() == 2
    assert await adapter.store.credentials_not_under(rotated.keyring.primary_id, limit=10) == []
    docs = await adapter.raw("credentials")
    assert {d["key_id"] for d in docs} == {rotated.keyring.primary_id}
    # The old key can now be dropped from ENCRYPTION_KEYS.
    new_only = credential_service(adapter, keyring(new))
    assert await new_only.secret_for(ORG_A, "openai") == SECRET
    assert await new_only.secret_for(ORG_B, "groq") == "gsk-groq-secret-123456"


# Persistence.
async def test_a_reopened_store_sees_everything(adapter: Adapter) -> None:
    b = bridge()
    await adapter.store.insert_bridge(b)
    await adapter.store.reserve_version(ORG_A, b.id)
    await adapter.store.insert_version(version_of(b, 1))
    await adapter.store.point_to_version(ORG_A, b.id, 1, only_if_latest=True)
    _, key = generate_key(ORG_A)
    await adapter.store.add_api_key(key)
    creds = credential_service(adapter)
    await creds.put(ORG_A, "openai", SECRET)
    again = await adapter.reopen()
    got = await again.get_bridge(ORG_A, b.id)
    assert got is not None and got.published_version == 1
    assert await again.get_version(ORG_A, b.id, 1) is not None
    assert await again.find_api_key(key.key_hash) is not None
    cred = await again.get_credential(ORG_A, "openai")
    assert cred is not None and cred.hint == "sk-...ABLE"
