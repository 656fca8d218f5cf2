"""The governance services (limits and budgets, key checks, the audit log), built from
settings and explicit clients by the composition root (services/context.py). It knows
several domains, so, like services/stores.py, it sits beside them rather than in one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from config import Settings
from services.audit.runtime import build_audit_log
from services.audit.service import AuditLog
from services.auth.authenticator import Authenticator, FindKey
from services.auth.authenticator_runtime import build_authenticator
from services.auth.keys import ApiKey
from services.bridges.service import BridgeService
from services.chat.completer import ChatCompleter
from services.errors import Conflict, NotFound
from services.guardrails.model import GuardrailPolicy
from services.guardrails.run import BridgeGuard
from services.limits.runtime import build_governor, redis_prefix
from services.limits.service import Governor

if TYPE_CHECKING:
    from redis.asyncio import Redis


@dataclass
class Governance:
    governor: Governor
    authenticator: Authenticator
    audit: AuditLog
    # The org's platform keys, to refuse limits for a key of another org (404).
    list_keys: Callable[[str], Awaitable[list[ApiKey]]]

    async def org_of(self, authorization: str | None) -> str:
        """The org of the API key in an Authorization header (401 when it is not valid)."""
        return (await self.authenticator.authenticate(authorization)).org_id


def build_governance(
    settings: Settings, *, redis: Redis | None, find_key: FindKey,
    list_keys: Callable[[str], Awaitable[list[ApiKey]]],
) -> Governance:
    prefix = redis_prefix(settings.redis.key_prefix)
    return Governance(
        governor=build_governor(settings.governance, redis, prefix=prefix,
                                reservation_ttl_s=settings.jobs.retention_s),
        authenticator=build_authenticator(settings.governance, find_key, redis, prefix=prefix),
        audit=build_audit_log(settings.timescale),
        list_keys=list_keys,
    )


def bridge_policies(bridges: BridgeService) -> Callable[[str, dict[str, Any]], Awaitable[GuardrailPolicy | None]]:
    """The guardrails of the bridge version a job was submitted under (its meta): the cached
    published version when it is still that one, else that version from the store."""

    async def policy_of(org_id: str, meta: dict[str, Any]) -> GuardrailPolicy | None:
        bridge_id, number = str(meta["bridge_id"]), meta.get("bridge_version")
        try:
            resolved = await bridges.resolve(org_id, bridge_id)
        except (NotFound, Conflict):
            resolved = None  # paused or unpublished since: the job's own version still holds
        if resolved is not None and (number is None or resolved.version == number):
            return resolved.spec.guardrails
        if number is None:
            raise NotFound(f"bridge {bridge_id!r} not found", code="bridge_not_found")
        return (await bridges.version(org_id, bridge_id, int(number))).spec.guardrails

    return policy_of


def build_run_guard(bridges: BridgeService, completer: ChatCompleter) -> BridgeGuard:
    """The lifecycle's RunGuard: bridge guardrails, moderation through `completer`."""
    return BridgeGuard(bridge_policies(bridges), completer)


async def start(governance: Governance) -> Callable[[], Awaitable[None]]:
    """Open the audit store and subscribe to key revocations; returns the stopper."""
    await governance.audit.store.open()
    try:
        await governance.authenticator.start()
    except BaseException:
        await governance.audit.store.close()
        raise

    async def stop() -> None:
        await governance.authenticator.close()
        await governance.audit.store.close()

    return stop
