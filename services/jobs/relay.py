"""Relays a job's events as Server-Sent Events until the job ends.

Events: `chunk` (a streamed piece of the answer; its SSE id is the stream entry id, so a
client reconnecting with `Last-Event-ID` resumes right after it), then `done` (the job
succeeded; data: the job) or `error` (it failed or was cancelled; data: the job, with its
error). A comment line goes out every `sse_heartbeat_s` (15 s) of silence.

The end is seen two ways: the `end` entry the job-finished listener appends to a streaming
job's log (services/jobs/lifecycle.py), and, as a backstop, a look at the job record after
every quiet heartbeat interval. A job that does not stream only gets `done` / `error`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from services.common.sse import HEARTBEAT, sse
from services.jobs.model import Job, JobStatus
from services.jobs.store import JobStore
from services.jobs.stream_store import CHUNK, END, StreamStore


def _final(job: Job, event_id: str | None = None) -> bytes:
    event = "done" if job.status is JobStatus.SUCCEEDED else "error"
    return sse(event, job.public(), event_id=event_id)


async def relay_job(
    jobs: JobStore, streams: StreamStore, job: Job, last_event_id: str | None, *, heartbeat_s: float,
) -> AsyncIterator[bytes]:
    """SSE bytes for `job` (already checked to belong to the caller)."""
    if not job.request.get("stream"):
        while not job.status.terminal:
            latest = await jobs.wait(job.id, heartbeat_s)
            if latest is None:
                return
            if not latest.status.terminal:
                yield HEARTBEAT
            job = latest
        yield _final(job)
        return
    after = last_event_id
    # A job already over: send what is left of its log without waiting for more.
    block_s = 0.0 if job.status.terminal else heartbeat_s
    while True:
        entries = await streams.read(job.id, after, block_s=block_s)
        ended = False
        for entry in entries:
            after = entry.id
            if entry.event == END:
                ended = True
                break
            if entry.event == CHUNK:
                yield sse(CHUNK, entry.data, event_id=entry.id)
        if entries and not ended:
            continue
        latest = await jobs.get(job.id)
        if latest is None:
            return
        if latest.status.terminal:
            if not ended:
                # Over, but its end marker is not in the log: flush what is left.
                while rest := await streams.read(job.id, after):
                    for entry in rest:
                        after = entry.id
                        if entry.event == CHUNK:
                            yield sse(CHUNK, entry.data, event_id=entry.id)
            yield _final(latest, after)
            return
        if not ended:
            yield HEARTBEAT
        block_s = heartbeat_s
