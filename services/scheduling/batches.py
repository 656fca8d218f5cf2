"""Batches: many requests submitted as one object, with progress counts, cancel and JSONL results.

Each request becomes an ordinary job (same lifecycle, retries, capacity shaping) with
`meta.batch_id`, priority `low` and its own fair-share key `<org>/batch`: the org's batch
work takes turns with its interactive jobs instead of queueing in front of them, and with
every other org's. Counts are kept by a job listener as jobs finish. The requests the
batch's `routing` sends to a provider's own batch API are recorded as jobs too but run
there (provider_batches.py).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import orjson

from services.errors import Conflict, Invalid, NotFound
from services.jobs.lifecycle import JobLifecycle
from services.jobs.model import Job
from services.scheduling.provider_batches import ProviderBatches, window_s
from services.scheduling.store import BatchStore

MAX_REQUESTS = 50_000
SUBMIT_CONCURRENCY = 100
TERMINAL = ("completed", "cancelled")


def parse_jsonl(body: bytes) -> list[dict[str, Any]]:
    """One request object a line (OpenAI's batch input format or ours); blank lines skipped."""
    out: list[dict[str, Any]] = []
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise Invalid(f"line {number} is not JSON", field=f"requests[{number - 1}]") from exc
        if not isinstance(item, dict):
            raise Invalid(f"line {number} is not an object", field=f"requests[{number - 1}]")
        out.append(item)
    return out


class BatchService:
    def __init__(self, store: BatchStore, lifecycle: JobLifecycle, provider: ProviderBatches) -> None:
        self.store = store
        self.lifecycle = lifecycle
        self.provider = provider

    async def create(self, org_id: str, kind: str, requests: list[dict[str, Any]],
                     *, metadata: dict[str, Any] | None = None, completion_window: str = "24h",
                     routing: str = "auto") -> dict[str, Any]:
        """Validate every request first (422 naming the first bad one), then submit them all:
        to jobs, or (per `routing`) to the providers' batch APIs."""
        if not requests:
            raise Invalid("a batch needs at least one request", field="requests")
        if len(requests) > MAX_REQUESTS:
            raise Invalid(f"a batch holds at most {MAX_REQUESTS} requests", field="requests")
        payloads = []
        for i, item in enumerate(requests):
            body = item.get("body", item.get("payload")) if ("body" in item or "payload" in item) else item
            if not isinstance(body, dict):
                raise Invalid("each request needs a `payload` (or `body`) object", field=f"requests[{i}]")
            payloads.append((str(item.get("custom_id") or i),
                             self.lifecycle.parse(kind, body, prefix=f"requests[{i}].payload.")))
        to_provider = self.provider.route(routing, kind, [p for _, p in payloads], window_s(completion_window))
        batch_id = "batch_" + uuid.uuid4().hex
        # The record first: jobs may finish (and count) before the last one is submitted.
        await self.store.create({"id": batch_id, "org_id": org_id, "kind": kind, "status": "in_progress",
                                 "created_at": time.time(), "total": len(payloads), "metadata": metadata or {},
                                 "completion_window": completion_window, "routing": routing,
                                 "provider_requests": sum(to_provider)})
        meta = {"batch_id": batch_id, "priority": "low", "share": f"{org_id}/batch"}
        native: list[tuple[str, str, Any]] = []
        for start in range(0, len(payloads), SUBMIT_CONCURRENCY):
            chunk = payloads[start:start + SUBMIT_CONCURRENCY]
            routed = to_provider[start:start + SUBMIT_CONCURRENCY]
            created = await asyncio.gather(*(
                self.lifecycle.submit(org_id, kind, model, publish=not native_one, meta={
                    **meta, "custom_id": cid, **({"routing": "provider"} if native_one else {})})
                for (cid, model), native_one in zip(chunk, routed, strict=True)))
            await self.store.add_jobs(batch_id, [(c.job.id, cid) for c, (cid, _) in zip(created, chunk, strict=True)])
            native += [(cid, c.job.id, model) for c, (cid, model), n in zip(created, chunk, routed, strict=True) if n]
        if native:
            await self.provider.submit(batch_id, org_id, self.provider.groups(native))
        return await self.get(org_id, batch_id)

    async def get(self, org_id: str, batch_id: str) -> dict[str, Any]:
        batch = await self.store.get(batch_id)
        if batch is None or batch["org_id"] != org_id:
            raise NotFound(f"batch {batch_id} not found")
        counts = batch["counts"]
        done = sum(counts.values())
        counts["completed"] = done
        counts["total"] = batch["total"]
        if done >= batch["total"] and batch["status"] not in TERMINAL:
            batch["status"] = "cancelled" if batch["status"] == "cancelling" else "completed"
            await self.store.set_status(batch_id, batch["status"])
        return batch

    async def cancel(self, org_id: str, batch_id: str) -> dict[str, Any]:
        """Cancel every job not yet finished; finished results stay."""
        batch = await self.get(org_id, batch_id)
        if batch["status"] in TERMINAL:
            raise Conflict(f"batch is already {batch['status']}", code="batch_finished")
        await self.store.set_status(batch_id, "cancelling")
        await self.provider.cancel(batch_id)
        jobs = await self.store.jobs(batch_id)

        async def one(job_id: str) -> None:
            try:
                await self.lifecycle.cancel(org_id, job_id)
            except (Conflict, NotFound):
                pass  # already finished

        for start in range(0, len(jobs), SUBMIT_CONCURRENCY):
            await asyncio.gather(*(one(j) for j, _ in jobs[start:start + SUBMIT_CONCURRENCY]))
        return await self.get(org_id, batch_id)

    async def results(self, org_id: str, batch_id: str) -> list[dict[str, Any]]:
        """One line per finished job: custom_id, job id, status, result or error."""
        await self.get(org_id, batch_id)
        out = []
        for job_id, custom_id in await self.store.jobs(batch_id):
            job = await self.lifecycle.store.get(job_id)
            if job is None or not job.status.terminal:
                continue
            out.append({"custom_id": custom_id, "job_id": job_id, "status": job.status.value,
                        "result": job.result, "error": job.error.model_dump() if job.error else None})
        return out

    async def on_job_finished(self, job: Job) -> None:
        """The job listener that keeps the counts."""
        batch_id = job.meta.get("batch_id")
        if isinstance(batch_id, str):
            await self.store.count(batch_id, job.status.value)
