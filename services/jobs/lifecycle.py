"""The one job lifecycle: every path that creates, starts, finishes, retries, dead-letters
or cancels a job goes through `JobLifecycle`, whatever the job's kind.

- submit (API): validate the payload with its kind's model, check its webhook URL, record
  the job (Idempotency-Key aware), publish it; a failed publish fails the job at once.
- queued (worker): `run_message` starts the job (compare-and-set, so a redelivered message
  for a finished job is skipped), runs the kind's executor, then finishes, schedules a
  retry (by raising Retryable to the runner) or fails it; `dead_letter` fails a poison job.
- inline (API): `run_inline` and `stream_inline` (services/jobs/inline.py) record a running
  job, run the executor in the calling process and finish it the same way.

Executors return an Outcome and never write the store; this module alone does, and alone
tells the listeners (metrics, webhooks, end of stream). Every transition is a CAS in the
store, so a job finishes once whoever races to finish it.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import orjson
from pydantic import BaseModel, ValidationError

from config import JobSettings
from services.broker.base import Broker
from services.broker.queues import job_queue
from services.common.bounded import STORED
from services.errors import Conflict, Deferred, Invalid, NotFound, PlatformError, Retryable, Unavailable
from services.jobs.admission import Admission
from services.jobs.events import JobListeners
from services.jobs.executor import Executor, ExecutorRegistry, Outcome, RunAttempts, StreamingExecutor
from services.jobs.guard import GuardedRun, RunGuard, StartCheck
from services.jobs.inline import InlineRuns, error_of
from services.jobs.messages import JobMessage
from services.jobs.model import (
    CANCEL_FROM,
    FINISH_FROM,
    RETRY_FROM,
    START_FROM,
    Job,
    JobError,
    JobStatus,
)
from services.jobs.retry import backoff_s
from services.jobs.store import Created, JobStore, Page
from services.jobs.stream_store import END, StreamStore
from services.observability.prom import JOB_QUEUE_WAIT

log = logging.getLogger(__name__)
# Checks a user-given webhook URL (the address guard); raises Invalid.
UrlCheck = Callable[[str], Awaitable[str]]
# A job's attempt history in meta keeps only the latest calls of a job redelivered many times.
MAX_RECORDED_ATTEMPTS = 50


def body_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _fields(exc: ValidationError, prefix: str) -> list[dict[str, str]]:
    return [{"field": prefix + ".".join(str(p) for p in e["loc"]), "reason": e["msg"]}
            for e in exc.errors()]


@dataclass(slots=True)
class JobLifecycle(InlineRuns):
    store: JobStore
    broker: Broker
    executors: ExecutorRegistry
    listeners: JobListeners
    streams: StreamStore
    settings: JobSettings
    check_webhook_url: UrlCheck | None = None
    # The scheduler: fair-share holding, provider capacity, queue timeouts (None: plain FIFO).
    admission: Admission | None = None
    # A bridge's guardrails (block list, moderation, redaction), on every path.
    guard: RunGuard | None = None
    # Whether a queued job may still start (its budgets), asked before it starts.
    start_check: StartCheck | None = None

    # -- submit side -------------------------------------------------------------------

    def executor(self, kind: str) -> Executor:
        if kind not in self.executors:
            raise Invalid(f"unknown job kind {kind!r}; known: {', '.join(self.executors.kinds())}",
                          field="kind")
        return self.executors.get(kind)

    def parse(self, kind: str, payload: dict[str, Any], *, prefix: str = "payload.") -> BaseModel:
        """The payload as its kind's model; Invalid naming every wrong field otherwise."""
        try:
            model = self.executor(kind).payload_model.model_validate(payload)
        except ValidationError as exc:
            raise Invalid("request validation failed", fields=_fields(exc, prefix)) from exc
        try:
            self._check(kind, model)
        except Invalid as exc:
            raise Invalid(exc.message, fields=[{**f, "field": prefix + f["field"]} for f in exc.fields]) from exc
        return model

    def _check(self, kind: str, payload: BaseModel) -> None:
        """The executor's own checks beyond the model (e.g. a known provider and model)."""
        check = getattr(self.executor(kind), "check_payload", None)
        if check is not None:
            check(payload)

    async def _check_webhook(self, payload: BaseModel) -> None:
        webhook = getattr(payload, "webhook", None)
        if webhook is None or self.check_webhook_url is None:
            return
        try:
            await self.check_webhook_url(webhook.url)
        except Invalid as exc:
            raise Invalid(exc.message, field="payload.webhook.url") from exc

    async def submit(
        self, org_id: str, kind: str, payload: dict[str, Any] | BaseModel, *,
        idempotency_key: str | None = None, meta: dict[str, Any] | None = None, publish: bool = True,
    ) -> Created:
        """Validate, record, then publish; the broker's confirm comes before we answer. With
        fair shares the scheduler records the job and parks it in one step, and publishes it
        when its turn comes (at once when there is room).

        If the publish fails the job is marked failed (never left `queued` forever), its
        idempotency key is released so the client's retry can succeed, and Unavailable is raised.
        `publish=False` only records it: its work runs elsewhere (a provider's batch API) and
        ends through `complete_elsewhere`.
        """
        if isinstance(payload, BaseModel):
            self._check(kind, payload)
            model = payload
        else:
            model = self.parse(kind, payload)
        await self._check_webhook(model)
        guarded = await self._guarded(org_id, kind, meta or {})
        if guarded is not None:
            guarded.check(model)
        request = model.model_dump(mode="json", exclude_unset=True)
        digest = body_hash({"kind": kind, "payload": request}) if idempotency_key else None
        stored = guarded.queued_request(request) if guarded is not None else request
        job = Job(org_id=org_id, kind=kind, request=stored, idempotency_key=idempotency_key,
                  meta=meta or {})
        # The scheduler records and parks the job in one step, or it is recorded and published here.
        held = await self.admission.hold(job, body_hash=digest) if publish and self.admission is not None else None
        created = held.created if held is not None else await self.store.create(job, body_hash=digest)
        if created.conflict:
            raise Conflict("Idempotency-Key was used with a different body", code="idempotency_conflict",
                           job_id=created.job.id)
        if not created.created or not publish:
            return created
        if not (held.queued if held is not None else await self._publish(job)):
            await self._not_queued(job)
        return created

    async def _publish(self, job: Job) -> bool:
        """Publish a job the scheduler does not hold; False when the broker refused it."""
        try:
            await self.broker.publish(job_queue(job.kind),
                                      JobMessage(job_id=job.id, org_id=job.org_id, kind=job.kind).outgoing())
        except Unavailable as exc:
            log.warning("could not publish the job: %s", exc.message, extra={"job_id": job.id})
            return False
        return True

    async def _not_queued(self, job: Job) -> NoReturn:
        """The broker refused the job: it fails at once (never left `queued` forever) and its
        idempotency key is released so the client's retry can succeed. A held copy of it is
        skipped as finished when it is dispatched later."""
        await self.store.transition(job.id, [JobStatus.QUEUED], JobStatus.FAILED, {
            "finished_at": time.time(),
            "error": JobError(code="broker_unavailable", message="the job could not be queued",
                              retryable=True).model_dump(),
        })
        if job.idempotency_key:
            await self.store.release_idempotency(job.org_id, job.idempotency_key)
        raise Unavailable("the job queue is unavailable; retry shortly", code="broker_unavailable",
                          retry_after_s=5)

    async def _guarded(self, org_id: str, kind: str, meta: dict[str, Any]) -> GuardedRun | None:
        return await self.guard.for_job(org_id, kind, meta) if self.guard is not None else None

    async def _redacted(self, job: Job, fields: dict[str, Any]) -> dict[str, Any]:
        """`fields` of a job ending outside `_finish` (cancelled, dead-lettered), with its
        request redacted as a finished job's is: a queued job may have kept the original."""
        guarded = await self._guarded(job.org_id, job.kind, job.meta)
        if guarded is not None and (request := guarded.record_request(job.request)) != job.request:
            return {**fields, "request": request}
        return fields

    async def get(self, org_id: str, job_id: str, *, wait_s: float = 0) -> Job:
        """The org's job (another org's job is NotFound), optionally waiting for it to end."""
        job = await self.store.get(job_id)
        if job is None or job.org_id != org_id:
            raise NotFound(f"job {job_id} not found")  # at once: another org's job never waits
        if wait_s > 0 and not job.status.terminal:
            job = await self.store.wait(job_id, wait_s) or job
        return job

    async def list_jobs(self, org_id: str, **filters: Any) -> Page:
        return await self.store.list(org_id, **filters)

    async def cancel(self, org_id: str, job_id: str) -> Job:
        """Cancel a queued, retrying or running job; a running job's result is then dropped."""
        job = await self.get(org_id, job_id)
        if job.status.terminal:
            raise Conflict(f"job is already {job.status.value}", code="job_finished")
        done = await self.store.transition(job_id, CANCEL_FROM, JobStatus.CANCELLED,
                                           await self._redacted(job, {"finished_at": time.time()}))
        if done is None:  # it ended between our read and the cancel
            latest = await self.get(org_id, job_id)
            raise Conflict(f"job is already {latest.status.value}", code="job_finished")
        await self._ended(done)
        return done

    # -- queued side -------------------------------------------------------------------

    async def run_message(self, message: JobMessage, *, redelivered: bool) -> None:
        """Run one delivered job. Raises Retryable (with the delay) when it should run again."""
        job = await self.store.get(message.job_id)
        if job is None:
            log.warning("job record missing (expired or lost with the job store); message dropped")
            return
        if job.status.terminal:
            if self.admission is not None:
                await self.admission.started(job)
            if redelivered:
                # We may have died between the finish and telling the listeners: tell them again.
                await self.listeners.finished(job)
            return
        # Before the scheduler reserves provider capacity for a job that cannot run.
        if self.start_check is not None and job.status is not JobStatus.RUNNING:
            refusal = await self.start_check.refusal(job)
            if refusal is not None:
                await self._refuse_start(job, refusal)
                return
        if self.admission is not None and job.status is not JobStatus.RUNNING:
            decision = await self.admission.admit(job)
            if decision.timeout:
                await self._queue_timeout(job)
                return
            if decision.wait_s > 0:
                # Back to RabbitMQ (a delay queue) without starting: no attempt is counted.
                raise Retryable("waiting for provider capacity", code="capacity_wait",
                                retry_after_s=decision.wait_s)
        now = time.time()
        started = await self.store.transition(job.id, START_FROM, JobStatus.RUNNING, {
            "started_at": now, "queue_ms": round((now - job.created_at) * 1000, 3),
        }, count_attempt=True)
        if started is None:
            return
        if self.admission is not None:
            await self.admission.started(started)
        if job.started_at is None and started.attempts == 1:
            JOB_QUEUE_WAIT.labels(job.kind).observe(max(0.0, now - job.created_at))
        await self._run_queued(started)

    async def _run_queued(self, job: Job) -> None:
        attempts = RunAttempts()
        guarded: GuardedRun | None = None
        try:
            executor = self.executors.get(job.kind)
            payload = executor.payload_model.model_validate(job.request, context=STORED)
            guarded = await self._guarded(job.org_id, job.kind, job.meta)
            if guarded is not None:
                payload = await guarded.before_run(job, payload, attempts)
            if getattr(payload, "stream", False) and isinstance(executor, StreamingExecutor):
                outcome = await self._stream_into_log(executor, job, payload, attempts)
            else:
                outcome = await executor.run(job, payload, attempts)
        except Deferred as exc:
            await self._defer(job, exc)
            return
        except Retryable as exc:
            if self.admission is not None and exc.code == "rate_limited":
                await self._requeue_throttled(job, exc, attempts)
            await self._retry_or_fail(job, exc, attempts, guarded)
            return
        except PlatformError as exc:
            await self._finish(job, JobStatus.FAILED, error=error_of(exc), attempts=attempts, guarded=guarded)
            return
        except (KeyError, ValidationError) as exc:
            log.error("job cannot run: %s", type(exc).__name__)
            await self._finish(job, JobStatus.FAILED, attempts=attempts, guarded=guarded, error=JobError(
                code="invalid_payload", message="the job's payload is not valid for its kind").model_dump())
            return
        except Exception:
            log.exception("job crashed")
            await self._finish(job, JobStatus.FAILED, attempts=attempts, guarded=guarded, error=JobError(
                code="internal_error", message="the job failed unexpectedly").model_dump())
            return
        await self._finish(job, JobStatus.SUCCEEDED, outcome=outcome, attempts=attempts, guarded=guarded)

    async def _stream_into_log(
        self, executor: StreamingExecutor, job: Job, payload: Any, attempts: RunAttempts,
    ) -> Outcome:
        """A queued `stream: true` job: chunks go to the job's event log for SSE readers."""
        outcome: Outcome | None = None
        async for event in executor.stream(job, payload, attempts):
            if event.outcome is not None:
                outcome = event.outcome
            else:
                await self.streams.append(job.id, event.event, event.data)
        if outcome is None:
            raise RuntimeError("the stream ended without its outcome")
        return outcome

    async def _defer(self, job: Job, exc: Deferred) -> None:
        """Back to `queued` with the attempt uncounted; the runner republishes the message
        through the delay queue (Retryable), so no worker is held while the job waits."""
        delay = max(0.05, exc.retry_after_s or 1.0)
        waiting = {"reason": exc.reason, "message": exc.message, "retry_at": time.time() + delay}
        back = await self.store.transition(job.id, (JobStatus.RUNNING,), JobStatus.QUEUED, {
            "attempts": max(0, job.attempts - 1), "started_at": None,
            "meta": {**job.meta, "waiting": waiting}})
        if back is not None:
            raise Retryable(exc.message, retry_after_s=delay) from exc

    async def _retry_or_fail(self, job: Job, exc: Retryable, attempts: RunAttempts,
                             guarded: GuardedRun | None = None) -> None:
        delay = backoff_s(job.attempts, base_s=self.settings.retry_base_s, max_s=self.settings.retry_max_s,
                          retry_after_s=exc.retry_after_s)
        deadline = job.created_at + self.settings.deadline_s
        if job.attempts < self.settings.max_attempts and time.time() + delay < deadline:
            fields: dict[str, Any] = {"error": error_of(exc)}
            if attempts.calls:
                fields["meta"] = {**job.meta, "attempts": self._history(job, attempts)}
            if await self.store.transition(job.id, RETRY_FROM, JobStatus.RETRYING, fields) is not None:
                log.info("job will retry", extra={"attempt": job.attempts, "delay_s": round(delay, 3)})
                raise Retryable(exc.message, retry_after_s=delay) from exc
            return
        await self._finish(job, JobStatus.FAILED, error=error_of(exc), attempts=attempts, guarded=guarded)

    async def _requeue_throttled(self, job: Job, exc: Retryable, attempts: RunAttempts) -> None:
        """The provider said 429 (the scheduler has already lowered its capacity): the job goes
        back to the queue as if it had not started, its attempt given back, and waits for a new
        capacity slot. Raises Retryable."""
        fields: dict[str, Any] = {"attempts": max(0, job.attempts - 1), "error": error_of(exc)}
        if attempts.calls:
            fields["meta"] = {**job.meta, "attempts": self._history(job, attempts)}
        requeued = await self.store.transition(job.id, RETRY_FROM, JobStatus.QUEUED, fields)
        if requeued is not None and self.admission is not None:
            # After the transition: its meta write must not overwrite the new reservation.
            delay = await self.admission.throttled(requeued)
            raise Retryable(exc.message, code="rate_limited", retry_after_s=delay) from exc

    async def _queue_timeout(self, job: Job) -> None:
        await self._refuse_start(job, Retryable("the job waited longer than its max_queue_s to start",
                                                code="queue_timeout"))

    async def _refuse_start(self, job: Job, exc: PlatformError) -> None:
        """Fail a job that must not start (queue timeout, no budget left): no attempt, no
        provider call; listeners hear of it as of any failed job (metric row, webhook)."""
        fields: dict[str, Any] = {"finished_at": time.time(), "error": error_of(exc)}
        try:
            guarded = await self._guarded(job.org_id, job.kind, job.meta)
        except PlatformError:
            guarded = None  # its bridge is gone: nothing left to apply
        if guarded is not None:
            fields["request"] = guarded.record_request(job.request)
        done = await self.store.transition(job.id, (JobStatus.QUEUED, JobStatus.RETRYING), JobStatus.FAILED, fields)
        if done is not None:
            if self.admission is not None:
                await self.admission.started(done)
            await self._ended(done)

    async def complete_elsewhere(self, job_id: str, *, outcome: Outcome | None = None,
                                 error: dict[str, Any] | None = None) -> Job | None:
        """End a recorded job whose work ran outside the workers (a provider's batch API):
        started and finished through the same compare-and-set transitions, so its metrics
        row, webhooks and batch counts follow as for any job. A job already cancelled or
        finished is left as it is (None)."""
        now = time.time()
        job = await self.store.get(job_id)
        if job is None:
            return None
        started = await self.store.transition(job_id, (JobStatus.QUEUED, JobStatus.RETRYING), JobStatus.RUNNING, {
            "started_at": now, "queue_ms": round((now - job.created_at) * 1000, 3)}, count_attempt=True)
        if started is None:
            return None
        status = JobStatus.SUCCEEDED if outcome is not None else JobStatus.FAILED
        return await self._finish(started, status, outcome=outcome, error=error, attempts=RunAttempts())

    async def dead_letter(self, job_id: str) -> None:
        """A message that hit the delivery limit: fail its job so nobody waits forever."""
        job = await self.store.get(job_id)
        if job is None:
            return
        done = await self.store.transition(job_id, START_FROM, JobStatus.FAILED, await self._redacted(job, {
            "finished_at": time.time(),
            "error": JobError(code="delivery_limit", message="the job crashed its worker repeatedly").model_dump(),
        }))
        if done is not None:
            log.error("job dead-lettered after repeated crashes")
            await self._ended(done)

    # -- the finish every path shares --------------------------------------------------

    def _history(self, job: Job, attempts: RunAttempts) -> list[dict[str, Any]]:
        previous = job.meta.get("attempts", []) if isinstance(job.meta.get("attempts"), list) else []
        return (previous + attempts.as_dicts())[-MAX_RECORDED_ATTEMPTS:]

    async def _finish(
        self, job: Job, status: JobStatus, *, outcome: Outcome | None = None,
        error: dict[str, Any] | None = None, attempts: RunAttempts, guarded: GuardedRun | None = None,
    ) -> Job:
        fields: dict[str, Any] = {"finished_at": time.time(), "error": error}
        meta = dict(job.meta)
        meta.pop("waiting", None)
        if guarded is not None:
            # A queued job's record may have kept the prompt for its worker: redact it now.
            request = guarded.record_request(job.request)
            if request != job.request:
                fields["request"] = request
        if outcome is not None:
            fields["result"] = guarded.record_result(outcome.result) if guarded is not None else outcome.result
            meta.update(outcome.meta())
        # Every run records its provider calls, none (a cache hit) included.
        meta["attempts"] = self._history(job, attempts)
        if meta != job.meta:
            fields["meta"] = meta
        done = await self.store.transition(job.id, FINISH_FROM, status, fields)
        if done is None:
            latest = await self.store.get(job.id)
            if latest is None:
                # Not a cancel: the record is gone (a job store that lost its data, or expiry).
                log.error("job record vanished from the job store while the job ran (the store "
                          "lost its data or the record expired); the job was not cancelled and its "
                          "result is lost", extra={"job_id": job.id, "status": status.value})
            else:
                log.info("job was %s while running; result dropped", latest.status.value)
            return latest or job
        await self._ended(done)
        return done

    async def _ended(self, job: Job) -> None:
        if job.request.get("stream"):
            try:
                await self.streams.append(job.id, END, {"status": job.status.value})
            except Exception as exc:
                # Readers also poll the job at each heartbeat; never fail the job's completion.
                log.warning("could not mark the end of the job's stream: %s", type(exc).__name__)
        await self.listeners.finished(job)
