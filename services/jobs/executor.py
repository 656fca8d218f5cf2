"""The seam between the job lifecycle and the work a job does: one executor per job kind.

An executor is built once at start-up with the clients it needs (the composition root
hands them in) and registered under its `JobKind`. The lifecycle (services/jobs/lifecycle.py)
validates the payload with the executor's `payload_model`, calls `run` (or `stream`), and
alone writes the job record and tells the listeners. Executors never touch the job store.

Adding a kind is one module with an executor plus one `registry.register(...)` line.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

from services.jobs.model import Job


@dataclass(slots=True)
class Outcome:
    """What a successful run produced: the result the caller sees, and the facts about the
    run that the job record, the metrics row and the webhook carry. The provider calls are
    not here: the executor appends them to the run's RunAttempts as they happen."""

    result: dict[str, Any]
    provider: str | None = None
    model: str | None = None
    usage: dict[str, Any] | None = None
    cost_usd: float = 0.0
    cache: str | None = None
    latency_ms: float | None = None
    # Kind-specific facts for job.meta (e.g. a RAG run's retrieval, a chatbot's thread).
    extra: dict[str, Any] = field(default_factory=dict)

    def meta(self) -> dict[str, Any]:
        """The fields merged into job.meta when the job finishes."""
        out: dict[str, Any] = {"cost_usd": self.cost_usd, **self.extra}
        for name in ("provider", "model", "usage", "cache", "latency_ms"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """`chunk` (data: delta, tool_calls, finish_reason, usage), a kind's own event (e.g.
    `sources` for RAG), or `done` (carries the Outcome; data is its result)."""

    event: str
    data: dict[str, Any]
    outcome: Outcome | None = None


@dataclass(slots=True)
class RunAttempts:
    """Provider calls made so far in this run, appended by the executor as they happen and
    kept even when the run raises, so a retried job's record holds the history of every try."""

    # Each has `as_dict()` (services/chat/attempts.Attempt for a chat call); Any, because a
    # list is invariant and each executor appends its own record type.
    calls: list[Any] = field(default_factory=list)

    def as_dicts(self) -> list[dict[str, Any]]:
        return [c.as_dict() for c in self.calls]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.calls)


@runtime_checkable
class Executor(Protocol):
    """Runs one kind of job. `run` returns the Outcome or raises a PlatformError
    (`Retryable` to be retried by the lifecycle, anything else fails the job)."""

    @property
    def kind(self) -> str:
        """A JobKind value, or a kind a deployment adds; its queue is `jobs.<kind>`."""
        ...

    @property
    def payload_model(self) -> type[BaseModel]:
        """Validates the payload at submit (422 naming the field) and again before the run."""
        ...

    async def run(self, job: Job, payload: Any, attempts: RunAttempts) -> Outcome: ...

    # Optional: `def check_payload(self, payload) -> None` raising Invalid (field named) for
    # what the model alone cannot tell, e.g. an unknown model; called at submit and inline.


@runtime_checkable
class StreamingExecutor(Executor, Protocol):
    """An executor that can also yield its answer as it is written."""

    def stream(self, job: Job, payload: Any, attempts: RunAttempts) -> AsyncIterator[StreamEvent]: ...


class ExecutorRegistry:
    """JobKind -> executor; also the one place that knows each kind's payload model."""

    def __init__(self) -> None:
        self._executors: dict[str, Executor] = {}

    def register(self, executor: Executor) -> None:
        self._executors[str(executor.kind)] = executor

    def get(self, kind: str) -> Executor:
        found = self._executors.get(str(kind))
        if found is None:
            raise KeyError(f"no executor registered for job kind {kind!r}")
        return found

    def kinds(self) -> list[str]:
        return sorted(self._executors)

    def __contains__(self, kind: object) -> bool:
        return str(kind) in self._executors
