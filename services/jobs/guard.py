"""The lifecycle's ports to the steps a run takes before its executor, on every path.

- `RunGuard` (services/guardrails implements it): a bridge's guardrails. The lifecycle asks
  it once per run for the job's `GuardedRun`, then: `check` at submit and before an inline
  run (block list: 422 before any record), `before_run` before the executor (block list,
  moderation, the provider's view of the payload), and the record views of the request and
  result it stores. Kept here as a port so no executor repeats the steps.
- `StartCheck` (services/limits implements it): whether a queued job may still start when a
  worker picks it up (its budgets); a refusal fails the job before any provider call.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel

from services.errors import PlatformError
from services.jobs.executor import RunAttempts
from services.jobs.model import Job


class GuardedRun(Protocol):
    def check(self, payload: BaseModel) -> None:
        """Raise Invalid (422) when the request is refused outright (a block-listed phrase)."""
        ...

    async def before_run(self, job: Job, payload: BaseModel, attempts: RunAttempts) -> BaseModel:
        """The payload the executor runs with (what reaches the provider), after the checks
        and the moderation call (appended to `attempts`). Raises PlatformError to refuse."""
        ...

    def queued_request(self, request: dict[str, Any]) -> dict[str, Any]:
        """What a queued job's record holds until it finishes (the worker reads it back)."""
        ...

    def record_request(self, request: dict[str, Any]) -> dict[str, Any]:
        """The request as the finished (or inline) job's record keeps it."""
        ...

    def record_result(self, result: dict[str, Any]) -> dict[str, Any]:
        """The result as the job's record keeps it."""
        ...


class RunGuard(Protocol):
    async def for_job(self, org_id: str, kind: str, meta: dict[str, Any]) -> GuardedRun | None:
        """The guarded run for a job with this meta (None: nothing to guard)."""
        ...


class StartCheck(Protocol):
    async def refusal(self, job: Job) -> PlatformError | None:
        """Why this queued job must not start now (e.g. `budget_exceeded`), or None."""
        ...
