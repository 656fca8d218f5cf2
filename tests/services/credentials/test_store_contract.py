"""One suite, every credential store adapter: memory, Mongo on mongomock, PyMongo
over TCP to the wire front and to a real MongoDB (when MONGODB_CONNECTION_URI is set).
What passes here behaves the same in production."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from config import SecuritySettings
from services.common.crypto import KeyRing
from services.common.crypto import generate_key as new_encryption_key
from services.config.cache import ConfigCache
from services.credentials.runtime import create_credential_store
from services.credentials.service import CredentialService
from services.credentials.store import CredentialStore
from tests.services.config.adapters import ADAPTERS, Adapter, open_adapter

ORG_A, ORG_B = "org_a", "org_b"
SECRET = "sk-contract-0123456789-RECOGNISABLE"


@pytest.fixture(params=ADAPTERS)
async def adapter(
    request: pytest.FixtureRequest, tmp_path: Path, unique: str
) -> AsyncIterator[Adapter[CredentialStore]]:
    async with open_adapter(request, create_credential_store, tmp_path, unique) as opened:
        yield opened


def keyring(keys: str) -> KeyRing:
    return KeyRing.from_settings(SecuritySettings(encryption_keys=keys))


def credential_service(adapter: Adapter[CredentialStore], ring: KeyRing | None = None) -> CredentialService:
    return CredentialService(adapter.store, ring or keyring(new_encryption_key()), ConfigCache())


async def test_credentials_are_stored_encrypted_never_in_plaintext(adapter: Adapter[CredentialStore]) -> None:
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


async def test_one_credential_per_org_and_provider_replaced_in_place(adapter: Adapter[CredentialStore]) -> None:
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


async def test_credentials_are_scoped_to_their_org(adapter: Adapter[CredentialStore]) -> None:
    store = adapter.store
    saved = await credential_service(adapter).put(ORG_A, "openai", SECRET)
    assert await store.get_credential(ORG_B, "openai") is None
    assert await store.get_credential_by_id(ORG_B, saved.id) is None
    assert await store.delete_credential(ORG_B, saved.id) is None
    assert (await store.list_credentials(ORG_B, limit=10)).items == []
    removed = await store.delete_credential(ORG_A, saved.id)
    assert removed is not None and removed.id == saved.id
    assert await store.get_credential(ORG_A, "openai") is None


async def test_rotation_re_encrypts_under_the_new_first_key(adapter: Adapter[CredentialStore]) -> None:
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


async def test_a_reopened_store_sees_every_credential(adapter: Adapter[CredentialStore]) -> None:
    creds = credential_service(adapter)
    await creds.put(ORG_A, "openai", SECRET)
    again = await adapter.reopen()
    cred = await again.get_credential(ORG_A, "openai")
    assert cred is not None and cred.hint == "sk-...ABLE"
