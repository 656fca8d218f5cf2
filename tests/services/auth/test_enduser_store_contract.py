"""One suite, every chatbot auth store adapter; the secret is sealed in every one."""

from __future__ import annotations

import orjson

from services.auth.enduser.model import ChatbotAuth, PublicKey
from services.auth.enduser.service import ChatbotAuthService
from tests.services.auth.conftest import Adapter
from tests.services.auth.keys_support import keyring, rsa_pair


async def test_records_round_trip_per_org_and_survive_a_reopen(auth_adapter: Adapter) -> None:
    store = auth_adapter.store
    _, pem = rsa_pair()
    record = ChatbotAuth(org_id="org_a", public_keys=[PublicKey(kid="k1", alg="RS256", pem=pem)],
                         allowed_origins=["https://shop.example.com"])
    await store.put(record)
    again = await auth_adapter.reopen()
    found = await again.get("org_a")
    assert found is not None and found.public_keys[0].pem == pem
    assert found.allowed_origins == ["https://shop.example.com"]
    assert await store.get("org_b") is None
    await store.put(found.model_copy(update={"allowed_origins": []}))
    assert (await store.get("org_a")).allowed_origins == []  # type: ignore[union-attr]
    assert await store.delete("org_a") and not await store.delete("org_a")
    assert await store.get("org_a") is None


async def test_the_signing_secret_is_stored_sealed(auth_adapter: Adapter) -> None:
    service = ChatbotAuthService(auth_adapter.store, keyring())
    secret, record = await service.rotate_secret("org_a")
    assert secret.startswith("cbs_") and len(secret) > 40
    assert record.public()["secret"] == f"cbs_...{secret[-4:]}"
    raw = orjson.dumps(await auth_adapter.raw(), default=str).decode()
    assert secret not in raw and secret[4:20] not in raw
    assert "secret_sealed" in raw
