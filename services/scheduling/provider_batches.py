"""Provider-native batch routing: a batch's requests submitted to the provider's own batch
API (OpenAI Batch, Anthropic Message Batches: half price, results within 24 h) instead of
one job each.

The choice is the batch's `routing`:
- `jobs`: every request runs as a job (fair shares, capacity shaping, minutes not hours).
- `provider`: every request goes to its provider's batch API; a request that cannot
  (a provider without one, fallbacks, tools the platform runs, streaming, a window under
  24 h) is refused with 422 naming it.
- `auto` (the default): the requests that can go to a provider batch do when the batch's
  `completion_window` is at least 24 h (the window OpenAI accepts; Anthropic's is 24 h
  too); the rest, and everything in a shorter window, run as jobs.

Each request still gets its job record (submitted without a publish, `meta.routing =
provider`) and, once the provider's results are in, is finished through the lifecycle
(`complete_elsewhere`): the same result format, a metrics row, webhooks and batch counts
as a job-routed request, with the cost at the batch discount. One provider batch per
(provider, model) group. Its id and poll schedule live in the batch store (Redis), so a
restarted worker carries on polling; every worker with the model pool polls, one at a time
per batch under a lease. Cancelling the batch cancels its provider batches and its jobs.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from config import SchedulingSettings
from services.errors import Invalid, PlatformError
from services.jobs.executor import Outcome
from services.jobs.lifecycle import JobLifecycle
from services.providers.batch_api import BatchApi, BatchLine, batch_api
from services.providers.types import ChatRequest
from services.scheduling.capacity import CredentialLookup
from services.scheduling.store import BatchStore

log = logging.getLogger(__name__)
ROUTINGS = ("auto", "jobs", "provider")
# The shortest completion window the providers' batch APIs promise to meet.
PROVIDER_WINDOW_S = 24 * 3600.0
_WINDOW = re.compile(r"^(\d+(?:\.\d+)?)(m|h|d)$")
_UNIT_S = {"m": 60.0, "h": 3600.0, "d": 86400.0}


def window_s(window: str) -> float:
    """`24h`, `30m`, `2d` in seconds (422 for anything else)."""
    found = _WINDOW.match(window.strip())
    if found is None:
        raise Invalid("completion_window is a duration such as 24h, 30m or 2d", field="completion_window")
    return float(found.group(1)) * _UNIT_S[found.group(2)]


@dataclass
class Group:
    """The requests of one (provider, model) bound for its batch API."""

    provider: str
    model: str
    items: list[tuple[str, str, ChatRequest]] = field(default_factory=list)  # custom id, job id, request


class ProviderBatches:
    def __init__(self, store: BatchStore, lifecycle: JobLifecycle, providers: Mapping[str, Any],
                 credentials: CredentialLookup | None, settings: SchedulingSettings) -> None:
        self.store = store
        self.lifecycle = lifecycle
        self.providers = providers
        self._credentials = credentials
        self.settings = settings
        self.owner = uuid.uuid4().hex
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    # -- routing -------------------------------------------------------------------------

    def _api(self, provider: str) -> BatchApi | None:
        found = self.providers.get(provider)
        return batch_api(found) if found is not None else None

    def why_not(self, kind: str, payload: BaseModel, window: float) -> str | None:
        """Why this request cannot go to a provider batch (None: it can)."""
        provider = getattr(payload, "provider", None)
        if kind != "model" or not isinstance(provider, str):
            return "only model requests can go to a provider's batch API"
        if self._api(provider) is None:
            return f"{provider} has no batch API"
        if getattr(payload, "fallbacks", None) or getattr(payload, "tools", None) or getattr(payload, "stream", False):
            return "fallbacks, tools and streaming run as jobs"
        if window < PROVIDER_WINDOW_S:
            return "the providers' batch APIs need a completion_window of at least 24h"
        return None

    def route(self, routing: str, kind: str, payloads: list[BaseModel], window: float) -> list[bool]:
        """Per request: to a provider batch (True) or a job. `provider` refuses what cannot go."""
        if routing not in ROUTINGS:
            raise Invalid(f"routing is one of {', '.join(ROUTINGS)}", field="routing")
        if routing == "jobs":
            return [False] * len(payloads)
        out = []
        for i, payload in enumerate(payloads):
            reason = self.why_not(kind, payload, window)
            if reason is not None and routing == "provider":
                raise Invalid(reason, field=f"requests[{i}].payload")
            out.append(reason is None)
        return out

    @staticmethod
    def groups(items: list[tuple[str, str, BaseModel]]) -> list[Group]:
        found: dict[tuple[str, str], Group] = {}
        for custom_id, job_id, payload in items:
            fields = payload.model_dump(include={"provider", "model"})
            provider, model = str(fields["provider"]), str(fields["model"])
            group = found.setdefault((provider, model), Group(provider, model))
            request = ChatRequest.model_validate(payload.model_dump(include=set(ChatRequest.model_fields)))
            group.items.append((custom_id, job_id, request))
        return list(found.values())

    # -- submit, poll, cancel ------------------------------------------------------------

    async def _key(self, org_id: str, provider: str) -> str | None:
        return await self._credentials(org_id, provider) if self._credentials else None

    async def submit(self, batch_id: str, org_id: str, groups: list[Group]) -> None:
        """One provider batch per group; a group the provider refuses fails its jobs."""
        for index, group in enumerate(groups):
            api = self._api(group.provider)
            assert api is not None  # route() let only such groups through
            jobs = {cid: job_id for cid, job_id, _ in group.items}
            try:
                provider_id = await api.batch_submit([(cid, r) for cid, _, r in group.items], model=group.model,
                                                     api_key=await self._key(org_id, group.provider))
            except PlatformError as exc:
                log.warning("provider refused the batch", extra={"provider": group.provider, "code": exc.code})
                error = {"code": exc.code, "message": f"the provider refused the batch: {exc.message}",
                         "retryable": False}
                await asyncio.gather(*(self.lifecycle.complete_elsewhere(j, error=error) for j in jobs.values()))
                continue
            await self.store.put_provider_batch(batch_id, index, {
                "provider": group.provider, "model": group.model, "id": provider_id, "org_id": org_id,
                "jobs": jobs, "done": False, "next_at": time.time() + self.settings.batch_poll_s,
                "every_s": self.settings.batch_poll_s})

    async def cancel(self, batch_id: str) -> None:
        for entry in await self.store.provider_batches(batch_id):
            api = self._api(entry["provider"])
            if entry["done"] or api is None:
                continue
            try:
                await api.batch_cancel(entry["id"], api_key=await self._key(entry["org_id"], entry["provider"]))
            except PlatformError as exc:  # it may have ended meanwhile; its results still come in
                log.warning("could not cancel the provider batch", extra={"code": exc.code})

    async def poll(self) -> int:
        """One pass over the open batches; returns how many provider batches were read."""
        read = 0
        for batch_id in await self.store.open_batches():
            if not await self.store.lease(batch_id, self.owner, ttl_s=max(60.0, 4 * self.settings.batch_poll_s)):
                continue
            entries = await self.store.provider_batches(batch_id)
            for index, entry in enumerate(entries):
                if not entry["done"] and entry["next_at"] <= time.time():
                    read += await self._poll_one(batch_id, index, entry)
            if all(e["done"] for e in await self.store.provider_batches(batch_id)):
                await self.store.close(batch_id)
        return read

    async def _poll_one(self, batch_id: str, index: int, entry: dict[str, Any]) -> int:
        api = self._api(entry["provider"])
        if api is None:
            return 0
        key = await self._key(entry["org_id"], entry["provider"])
        try:
            ended = await api.batch_ended(entry["id"], api_key=key)
            lines = await api.batch_results(entry["id"], model=entry["model"], api_key=key) if ended else []
        except PlatformError as exc:
            log.warning("provider batch poll failed", extra={"code": exc.code})
            ended = False
        if not ended:
            # Back off: most batches take minutes to hours; never slower than batch_poll_max_s.
            every = min(float(entry["every_s"]) * 2, self.settings.batch_poll_max_s)
            await self.store.put_provider_batch(batch_id, index, {**entry, "every_s": every,
                                                                  "next_at": time.time() + every})
            return 0
        await self._settle(entry, lines)
        await self.store.put_provider_batch(batch_id, index, {**entry, "done": True})
        return 1

    async def _settle(self, entry: dict[str, Any], lines: list[BatchLine]) -> None:
        """Finish each request's job with its line; a request the provider never answered fails."""
        jobs: dict[str, str] = entry["jobs"]
        meta = {"routing": "provider", "provider_batch_id": entry["id"]}

        async def one(custom_id: str, job_id: str) -> None:
            line = by_id.get(custom_id)
            if line is not None and line.result is not None:
                result = {**line.result.model_dump(mode="json"), "cache": "bypass"}
                await self.lifecycle.complete_elsewhere(job_id, outcome=Outcome(
                    result=result, provider=line.result.provider, model=line.result.model,
                    usage=result["usage"], cost_usd=line.result.cost_usd, cache="bypass", extra=meta))
                return
            code = line.error_code if line is not None else "missing"
            message = line.error_message if line is not None else "the provider's batch returned no result"
            await self.lifecycle.complete_elsewhere(job_id, error={
                "code": f"provider_batch_{code}", "message": message, "retryable": False})

        by_id = {line.custom_id: line for line in lines}
        await asyncio.gather(*(one(cid, job_id) for cid, job_id in jobs.items()))

    # -- the poll loop (workers) ---------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._closing = False
            self._task = asyncio.create_task(self._loop(), name="provider-batches")

    async def _loop(self) -> None:
        # Not only cancellation stops it: finishing jobs publishes (metrics, webhooks), and a
        # cancel landing inside a publish can be absorbed by the broker client's shielding.
        while not self._closing:
            try:
                await self.poll()
            except Exception as exc:  # the next pass retries; the state is in the store
                log.warning("provider batch poll pass failed: %s", type(exc).__name__)
            await asyncio.sleep(self.settings.batch_poll_s)

    async def close(self) -> None:
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # A pass in flight ends within a publish timeout; never wait on it forever.
            _, stuck = await asyncio.wait([task], timeout=5.0)
            if stuck:
                log.warning("provider batch poller still running at close")
