"""The config repositories built from the settings alone: the embedded stores share one
JSON file across restarts, production settings select the Mongo stores on one client, and
the bridge and credential services are wired over them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from redis.asyncio import Redis

from config import AppSettings, MongoSettings, RedisSettings, SecuritySettings, Settings
from services.auth.keys import generate_key
from services.auth.mongo_store import MongoApiKeyStore
from services.bridges.model import Bridge
from services.bridges.mongo_store import MongoBridgeStore
from services.bridges.schemas import BridgeCreate, BridgeUpdate
from services.common.crypto import generate_key as new_encryption_key
from services.credentials.mongo_store import MongoCredentialStore
from services.stores import create_stores, start_config_services

SECRET = "sk-stores-0123456789-abcd"


def settings_for(data_dir: Path, *, mongo_url: str | None = None, redis_url: str | None = None,
                 prefix: str = "t:") -> Settings:
    return Settings(
        app=AppSettings(environment="test", data_dir=str(data_dir)),
        mongo=MongoSettings(url=mongo_url),
        redis=RedisSettings(url=redis_url, key_prefix=prefix),
        security=SecuritySettings(encryption_keys=new_encryption_key()),
    )


async def test_embedded_stores_share_one_file_that_survives_a_restart(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    stores = create_stores(settings)
    await stores.connect()
    config = await start_config_services(settings, stores, None)
    _, key = generate_key("acme")
    await stores.keys.add_api_key(key)
    bridge = await config.bridges.create("acme", BridgeCreate(name="Support"))
    await config.credentials.put("acme", "openai", SECRET)
    # A later write by one store keeps what the others saved.
    await stores.keys.add_api_key(generate_key("acme")[1])
    await config.close()
    await stores.close()

    saved = orjson.loads((tmp_path / "config.json").read_bytes())
    assert {"api_keys", "bridges", "bridge_versions", "credentials"} <= set(saved)
    assert SECRET not in orjson.dumps(saved).decode()

    again = create_stores(settings)
    await again.connect()
    assert await again.keys.find_api_key(key.key_hash) is not None
    assert len(await again.keys.list_api_keys("acme")) == 2
    got = await again.bridges.get_bridge("acme", bridge.id)
    assert got is not None and got.published_version == 1
    assert await again.bridges.get_version("acme", bridge.id, 1) is not None
    cred = await again.credentials.get_credential("acme", "openai")
    assert cred is not None and cred.hint == "sk-...abcd"
    await again.ping()
    await again.close()


async def test_a_mongo_url_selects_the_mongo_stores_on_one_client_opened_at_connect(
    tmp_path: Path,
) -> None:
    stores = create_stores(settings_for(tmp_path, mongo_url="mongodb://127.0.0.1:1/"))
    assert isinstance(stores.keys, MongoApiKeyStore)
    assert isinstance(stores.bridges, MongoBridgeStore)
    assert isinstance(stores.credentials, MongoCredentialStore)
    mongo = stores.backend.mongo
    assert mongo is not None and stores.backend.file is None
    assert {id(s._mongo) for s in (stores.keys, stores.bridges, stores.credentials)} == {id(mongo)}
    with pytest.raises(RuntimeError, match="connect"):
        _ = mongo.db  # nothing is opened before connect()
    assert not (tmp_path / "config.json").exists()


async def test_config_services_invalidate_across_processes_through_redis(
    tmp_path: Path, redis_url: str, unique: str,
) -> None:
    settings = settings_for(tmp_path, redis_url=redis_url, prefix=f"t{unique}:")
    stores = create_stores(settings)
    await stores.connect()
    clients = [Redis.from_url(redis_url), Redis.from_url(redis_url)]
    one, two = [await start_config_services(settings, stores, r) for r in clients]
    try:
        created = await one.bridges.create("acme", BridgeCreate(name="Support", system_prompt="v1"))
        assert (await two.bridges.resolve("acme", created.id)).spec.system_prompt == "v1"
        await one.bridges.update("acme", created.id, BridgeUpdate(system_prompt="v2"))
        await one.bridges.publish("acme", created.id)
        async with asyncio.timeout(5):
            while (await two.bridges.resolve("acme", created.id)).version != 2:
                await asyncio.sleep(0.01)
        assert (await two.bridges.resolve("acme", created.id)).spec.system_prompt == "v2"
        await one.credentials.put("acme", "openai", SECRET)
        assert await two.credentials.secret_for("acme", "openai") == SECRET
    finally:
        for services in (one, two):
            await services.close()
        for client in clients:
            await client.aclose()
        await stores.close()


async def test_records_saved_before_the_split_still_load(tmp_path: Path) -> None:
    # The file keeps the layout of the single config store it replaces (one list per
    # collection), so data saved before the split still loads.
    bridge = Bridge(org_id="acme", name="Old", slug="old")
    (tmp_path / "config.json").write_bytes(orjson.dumps({
        "api_keys": [], "bridges": [bridge.model_dump(mode="json")],
        "bridge_versions": [], "credentials": [],
    }))

    stores = create_stores(settings_for(tmp_path))
    await stores.connect()
    assert await stores.bridges.get_bridge("acme", bridge.id) == bridge
    await stores.close()
