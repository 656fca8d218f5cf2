"""Bridge configuration: create, edit the draft, publish, roll back, and resolve for a run.

Every write goes to the store first and then invalidates the cache in every process, so
`resolve` (used on each run) never hands out a version that was replaced.
"""

from __future__ import annotations

import time
from collections.abc import Collection

from services.bridges.model import (
    Bridge,
    BridgeSpec,
    BridgeStatus,
    BridgeVersion,
    ResolvedBridge,
    SlugRef,
)
from services.bridges.schemas import BridgeCreate, BridgeUpdate, slugify
from services.bridges.store import BridgeStore
from services.bridges.validate import UrlPolicies, check_addresses, validate_spec
from services.config.cache import ConfigCache
from services.config.paging import Page
from services.errors import Conflict, NotFound, PlatformError

BRIDGE_ID_PREFIX = "br_"


def bridge_key(org_id: str, bridge_id: str) -> str:
    return f"bridge:{org_id}:{bridge_id}"


def slug_key(org_id: str, slug: str) -> str:
    return f"slug:{org_id}:{slug}"


def not_found(ref: str) -> NotFound:
    return NotFound(f"bridge {ref!r} not found", code="bridge_not_found")


class BridgeService:
    def __init__(
        self, store: BridgeStore, cache: ConfigCache, *, open_providers: Collection[str] = (),
        url_policies: UrlPolicies | None = None,
    ) -> None:
        self.store = store
        self.cache = cache
        # Self-hosted OpenAI-compatible providers (settings.providers.openai_compatible).
        self.open_providers = frozenset(open_providers)
        self.url_policies = url_policies

    async def _validate(self, spec: BridgeSpec) -> None:
        validate_spec(spec, open_providers=self.open_providers)
        if self.url_policies is not None:
            await check_addresses(spec, self.url_policies)

    async def create(self, org_id: str, body: BridgeCreate) -> Bridge:
        spec = body.spec()
        await self._validate(spec)
        bridge = Bridge(
            org_id=org_id, name=body.name, slug=body.slug or slugify(body.name),
            type=body.type, draft=spec,
        )
        await self.store.insert_bridge(bridge)
        if body.publish:
            await self.publish(org_id, bridge.id, note="created")
            return await self.get(org_id, bridge.id)
        return bridge

    async def get(self, org_id: str, bridge_id: str) -> Bridge:
        bridge = await self.store.get_bridge(org_id, bridge_id)
        if bridge is None:
            raise not_found(bridge_id)
        return bridge

    async def list(self, org_id: str, *, limit: int, cursor: str | None) -> Page[Bridge]:
        return await self.store.list_bridges(org_id, limit=limit, cursor=cursor)

    async def update(self, org_id: str, bridge_id: str, body: BridgeUpdate) -> Bridge:
        current = await self.get(org_id, bridge_id)
        changes = body.identity_changes()
        spec_changes = body.spec_changes()
        if spec_changes:
            draft = BridgeSpec.model_validate({**current.draft.model_dump(), **spec_changes})
            await self._validate(draft)
            changes["draft"] = draft.model_dump(mode="json")
        if changes.get("status") == BridgeStatus.ACTIVE.value:
            changes["pause_reason"] = None
        changes["updated_at"] = time.time()
        updated = await self.store.update_bridge(org_id, bridge_id, changes)
        if updated is None:
            raise not_found(bridge_id)
        await self._invalidate(current, updated)
        return updated

    async def delete(self, org_id: str, bridge_id: str) -> None:
        current = await self.get(org_id, bridge_id)
        if not await self.store.delete_bridge(org_id, bridge_id):
            raise not_found(bridge_id)
        await self._invalidate(current)

    async def versions(
        self, org_id: str, bridge_id: str, *, limit: int, cursor: str | None
    ) -> Page[BridgeVersion]:
        await self.get(org_id, bridge_id)
        return await self.store.list_versions(org_id, bridge_id, limit=limit, cursor=cursor)

    async def version(self, org_id: str, bridge_id: str, number: int) -> BridgeVersion:
        found = await self.store.get_version(org_id, bridge_id, number)
        if found is None:
            raise NotFound(
                f"bridge {bridge_id!r} has no version {number}", code="version_not_found"
            )
        return found

    async def publish(self, org_id: str, bridge_id: str, *, note: str = "") -> BridgeVersion:
        """Freeze the draft as the next version and point the bridge at it."""
        current = await self.get(org_id, bridge_id)
        # Re-checked: the model catalog may have dropped a model since the draft was saved.
        await self._validate(current.draft)
        number = await self.store.reserve_version(org_id, bridge_id)
        if number is None:
            raise not_found(bridge_id)
        version = BridgeVersion(
            bridge_id=bridge_id, org_id=org_id, version=number, spec=current.draft, note=note,
        )
        await self.store.insert_version(version)
        # A concurrent publish that took a higher number points the bridge itself.
        updated = await self.store.point_to_version(org_id, bridge_id, number, only_if_latest=True)
        await self._invalidate(current, updated)
        return version

    async def rollback(self, org_id: str, bridge_id: str, number: int) -> Bridge:
        """Point the bridge at an older version; history and draft are left as they are."""
        current = await self.get(org_id, bridge_id)
        await self.version(org_id, bridge_id, number)
        updated = await self.store.point_to_version(org_id, bridge_id, number, only_if_latest=False)
        if updated is None:
            raise not_found(bridge_id)
        await self._invalidate(current, updated)
        return updated

    async def _invalidate(self, *states: Bridge | None) -> None:
        keys: list[str] = []
        for bridge in states:
            if bridge is not None:
                keys += [bridge_key(bridge.org_id, bridge.id), slug_key(bridge.org_id, bridge.slug)]
        await self.cache.invalidate(*dict.fromkeys(keys))

    async def resolve(self, org_id: str, ref: str) -> ResolvedBridge:
        """The published bridge `ref` (an id or a slug) for a run, from the cache.

        NotFound for unknown (or another org's) bridges, Conflict when it is paused or was
        never published."""
        resolved = None
        if ref.startswith(BRIDGE_ID_PREFIX):
            resolved = await self._cached(org_id, ref)
        if resolved is None:
            bridge_id = await self._id_for_slug(org_id, ref)
            resolved = await self._cached(org_id, bridge_id) if bridge_id else None
            if resolved is not None and resolved.slug != ref:
                # The slug moved to another bridge since it was cached: ask the store.
                bridge = await self.store.find_bridge_by_slug(org_id, ref)
                resolved = await self._load(org_id, bridge.id) if bridge else None
        if resolved is None:
            raise not_found(ref)
        if resolved.status == BridgeStatus.PAUSED:
            raise Conflict(
                f"bridge {resolved.slug!r} is paused: {resolved.pause_reason or 'no reason given'}",
                code="bridge_paused", reason=resolved.pause_reason,
            )
        return resolved

    async def id_of(self, org_id: str, ref: str) -> str | None:
        """The id of the org's bridge `ref` (an id or a slug), published or not."""
        if ref.startswith(BRIDGE_ID_PREFIX):
            return ref
        return await self._id_for_slug(org_id, ref)

    async def _cached(self, org_id: str, bridge_id: str) -> ResolvedBridge | None:
        return await self.cache.get(
            bridge_key(org_id, bridge_id), ResolvedBridge, lambda: self._load(org_id, bridge_id),
        )

    async def _id_for_slug(self, org_id: str, slug: str) -> str | None:
        async def load() -> SlugRef | None:
            bridge = await self.store.find_bridge_by_slug(org_id, slug)
            return SlugRef(bridge_id=bridge.id) if bridge else None

        found = await self.cache.get(slug_key(org_id, slug), SlugRef, load)
        return found.bridge_id if found else None

    async def _load(self, org_id: str, bridge_id: str) -> ResolvedBridge | None:
        bridge = await self.store.get_bridge(org_id, bridge_id)
        if bridge is None:
            return None
        if bridge.published_version is None:
            raise Conflict(
                f"bridge {bridge.slug!r} has no published version: publish it first",
                code="bridge_unpublished",
            )
        version = await self.store.get_version(org_id, bridge_id, bridge.published_version)
        if version is None:
            raise PlatformError(f"bridge {bridge.slug!r} points at a missing version")
        return ResolvedBridge(
            bridge_id=bridge.id, org_id=org_id, name=bridge.name, slug=bridge.slug,
            type=bridge.type, status=bridge.status, pause_reason=bridge.pause_reason,
            version=version.version, spec=version.spec,
        )
