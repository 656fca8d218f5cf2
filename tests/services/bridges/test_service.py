"""Bridge lifecycle through the service: drafts, publish, rollback, pause, resolve."""

from __future__ import annotations

from typing import Any

import pytest

from services.bridges.memory_store import MemoryBridgeStore
from services.bridges.model import BridgeStatus, Variable
from services.bridges.schemas import BridgeCreate, BridgeUpdate
from services.bridges.service import BridgeService
from services.config.cache import ConfigCache
from services.errors import Conflict, Invalid, NotFound

ORG, OTHER = "org_1", "org_2"


class CountingStore(MemoryBridgeStore):
    """Counts the reads a run's resolution makes, to see the cache at work."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def get_bridge(self, org_id: str, bridge_id: str) -> Any:
        self.reads += 1
        return await super().get_bridge(org_id, bridge_id)


@pytest.fixture
def store() -> CountingStore:
    return CountingStore()


@pytest.fixture
def service(store: CountingStore) -> BridgeService:
    return BridgeService(store, ConfigCache())


def create_body(**kw: Any) -> BridgeCreate:
    return BridgeCreate(**{"name": "Support Bot", "system_prompt": "v1 {{name}}",
                           "variables": [Variable(name="name", default="you")], **kw})


async def test_create_publishes_version_one_and_resolves_by_id_and_slug(
    service: BridgeService,
) -> None:
    bridge = await service.create(ORG, create_body())
    assert bridge.slug == "support-bot" and bridge.published_version == 1
    by_id = await service.resolve(ORG, bridge.id)
    by_slug = await service.resolve(ORG, "support-bot")
    assert by_id == by_slug and by_id.version == 1 and by_id.spec.system_prompt == "v1 {{name}}"


async def test_edits_stay_in_the_draft_until_published(service: BridgeService) -> None:
    bridge = await service.create(ORG, create_body())
    await service.resolve(ORG, bridge.id)  # cached now
    edited = await service.update(ORG, bridge.id, BridgeUpdate(system_prompt="v2 {{name}}"))
    assert edited.draft.system_prompt == "v2 {{name}}" and edited.published_version == 1
    assert (await service.resolve(ORG, bridge.id)).version == 1
    version = await service.publish(ORG, bridge.id, note="second")
    assert version.version == 2 and version.spec.system_prompt == "v2 {{name}}"
    resolved = await service.resolve(ORG, bridge.id)
    assert resolved.version == 2 and resolved.spec.system_prompt == "v2 {{name}}"
    # Version 1 is frozen: the draft edit did not touch it.
    assert (await service.version(ORG, bridge.id, 1)).spec.system_prompt == "v1 {{name}}"


async def test_rollback_points_at_an_older_version_and_keeps_history(
    service: BridgeService,
) -> None:
    bridge = await service.create(ORG, create_body())
    await service.update(ORG, bridge.id, BridgeUpdate(system_prompt="v2"))
    await service.publish(ORG, bridge.id)
    assert (await service.resolve(ORG, bridge.id)).version == 2
    rolled = await service.rollback(ORG, bridge.id, 1)
    assert rolled.published_version == 1 and rolled.latest_version == 2
    assert (await service.resolve(ORG, bridge.id)).spec.system_prompt == "v1 {{name}}"
    page = await service.versions(ORG, bridge.id, limit=10, cursor=None)
    assert [v.version for v in page.items] == [2, 1]
    with pytest.raises(NotFound):
        await service.rollback(ORG, bridge.id, 7)
    # Publishing after a rollback takes a fresh number.
    assert (await service.publish(ORG, bridge.id)).version == 3


async def test_paused_bridge_is_refused_with_its_reason(service: BridgeService) -> None:
    bridge = await service.create(ORG, create_body())
    await service.resolve(ORG, bridge.id)
    await service.update(ORG, bridge.id, BridgeUpdate(status=BridgeStatus.PAUSED,
                                                       pause_reason="budget spent"))
    with pytest.raises(Conflict) as caught:
        await service.resolve(ORG, bridge.id)
    assert caught.value.status == 409 and "budget spent" in caught.value.message
    resumed = await service.update(ORG, bridge.id, BridgeUpdate(status=BridgeStatus.ACTIVE))
    assert resumed.pause_reason is None
    assert (await service.resolve(ORG, bridge.id)).status == BridgeStatus.ACTIVE


async def test_another_orgs_bridge_is_not_found(service: BridgeService) -> None:
    bridge = await service.create(ORG, create_body())
    for call in (
        service.resolve(OTHER, bridge.id), service.resolve(OTHER, bridge.slug),
        service.get(OTHER, bridge.id), service.publish(OTHER, bridge.id),
        service.update(OTHER, bridge.id, BridgeUpdate(name="x")),
        service.delete(OTHER, bridge.id),
        service.versions(OTHER, bridge.id, limit=5, cursor=None),
        service.version(OTHER, bridge.id, 1),
        service.rollback(OTHER, bridge.id, 1),
    ):
        with pytest.raises(NotFound):
            await call
    assert (await service.resolve(ORG, bridge.id)).version == 1


async def test_invalid_bridges_are_refused_on_save(
    service: BridgeService, store: CountingStore,
) -> None:
    with pytest.raises(Invalid) as caught:
        await service.create(ORG, create_body(provider="openai", model="gpt-404"))
    assert caught.value.field == "model"
    assert (await store.list_bridges(ORG, limit=5)).items == []
    bridge = await service.create(ORG, create_body())
    with pytest.raises(Invalid):
        await service.update(ORG, bridge.id, BridgeUpdate(system_prompt="{{undeclared}}"))
    assert (await service.get(ORG, bridge.id)).draft.system_prompt == "v1 {{name}}"


async def test_unpublished_bridge_cannot_run(service: BridgeService) -> None:
    bridge = await service.create(ORG, create_body(publish=False))
    assert bridge.published_version is None
    with pytest.raises(Conflict):
        await service.resolve(ORG, bridge.id)
    await service.publish(ORG, bridge.id)
    assert (await service.resolve(ORG, bridge.slug)).version == 1


async def test_a_slug_that_looks_like_an_id_still_resolves(service: BridgeService) -> None:
    bridge = await service.create(ORG, create_body(slug="br_support"))
    assert (await service.resolve(ORG, "br_support")).bridge_id == bridge.id


async def test_explicit_nulls_leave_fields_as_they_are(service: BridgeService) -> None:
    bridge = await service.create(ORG, create_body(slug="kept"))
    body = BridgeUpdate.model_validate({"slug": None, "name": None, "params": None})
    updated = await service.update(ORG, bridge.id, body)
    assert updated.slug == "kept" and updated.name == "Support Bot"
    assert updated.draft == bridge.draft


async def test_renamed_and_deleted_slugs_stop_resolving(service: BridgeService) -> None:
    bridge = await service.create(ORG, create_body(slug="old"))
    await service.resolve(ORG, "old")
    await service.update(ORG, bridge.id, BridgeUpdate(slug="new"))
    with pytest.raises(NotFound):
        await service.resolve(ORG, "old")
    assert (await service.resolve(ORG, "new")).bridge_id == bridge.id
    await service.delete(ORG, bridge.id)
    with pytest.raises(NotFound):
        await service.resolve(ORG, "new")
    with pytest.raises(NotFound):
        await service.resolve(ORG, bridge.id)
    again = await service.create(ORG, create_body(slug="new"))
    assert (await service.resolve(ORG, "new")).bridge_id == again.id


async def test_runs_are_served_from_the_cache(service: BridgeService, store: CountingStore) -> None:
    bridge = await service.create(ORG, create_body())
    await service.resolve(ORG, bridge.id)
    reads = store.reads
    for _ in range(5):
        await service.resolve(ORG, bridge.id)
        await service.resolve(ORG, bridge.slug)
    assert store.reads == reads
