"""One suite, every bridge store adapter: memory, Mongo on mongomock, PyMongo
over TCP to the wire front and to a real MongoDB (when MONGODB_CONNECTION_URI is set).
What passes here behaves the same in production."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.bridges.model import Bridge, BridgeSpec, BridgeVersion
from services.bridges.runtime import create_bridge_store
from services.bridges.store import BridgeStore
from services.errors import Conflict
from tests.services.config.adapters import ADAPTERS, Adapter, open_adapter

ORG_A, ORG_B = "org_a", "org_b"


@pytest.fixture(params=ADAPTERS)
async def adapter(
    request: pytest.FixtureRequest, tmp_path: Path, unique: str
) -> AsyncIterator[Adapter[BridgeStore]]:
    async with open_adapter(request, create_bridge_store, tmp_path, unique) as opened:
        yield opened


def bridge(org: str = ORG_A, slug: str = "support", **kw: object) -> Bridge:
    return Bridge(org_id=org, name=slug.title(), slug=slug, **kw)  # type: ignore[arg-type]


def version_of(b: Bridge, number: int, spec: BridgeSpec | None = None) -> BridgeVersion:
    return BridgeVersion(bridge_id=b.id, org_id=b.org_id, version=number, spec=spec or BridgeSpec())


async def test_bridge_round_trip_and_org_scoping(adapter: Adapter[BridgeStore]) -> None:
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


async def test_slug_is_unique_per_org_among_live_bridges(adapter: Adapter[BridgeStore]) -> None:
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


async def test_soft_delete_hides_but_keeps_the_record(adapter: Adapter[BridgeStore]) -> None:
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


async def test_update_sets_fields_and_returns_the_new_bridge(adapter: Adapter[BridgeStore]) -> None:
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


async def test_bridges_page_in_creation_order_with_cursors(adapter: Adapter[BridgeStore]) -> None:
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
async def test_versions_are_numbered_immutable_and_listed_newest_first(adapter: Adapter[BridgeStore]) -> None:
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


async def test_pointing_at_a_version_respects_a_concurrent_publish(adapter: Adapter[BridgeStore]) -> None:
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


async def test_a_reopened_store_sees_every_bridge_and_version(adapter: Adapter[BridgeStore]) -> None:
    b = bridge()
    await adapter.store.insert_bridge(b)
    await adapter.store.reserve_version(ORG_A, b.id)
    await adapter.store.insert_version(version_of(b, 1))
    await adapter.store.point_to_version(ORG_A, b.id, 1, only_if_latest=True)
    again = await adapter.reopen()
    got = await again.get_bridge(ORG_A, b.id)
    assert got is not None and got.published_version == 1
    assert await again.get_version(ORG_A, b.id, 1) is not None
