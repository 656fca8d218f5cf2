"""Event bodies: `{id, type, created_at, data}`, serialized once and sent byte-identical on
every attempt (the signature covers the exact bytes)."""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from config import WebhookSettings
from services.jobs.model import Job, JobStatus
from services.webhooks.models import Event, EventType

EVENT_FOR_STATUS = {
    JobStatus.SUCCEEDED: EventType.JOB_SUCCEEDED,
    JobStatus.FAILED: EventType.JOB_FAILED,
    JobStatus.CANCELLED: EventType.JOB_CANCELLED,
}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")


def _body(event_id: str, event_type: str, created_at: float, data: dict[str, Any]) -> str:
    doc = {"id": event_id, "type": event_type, "created_at": _iso(created_at), "data": data}
    return orjson.dumps(doc).decode()


def job_link(settings: WebhookSettings, job_id: str) -> str:
    return f"{settings.public_base_url.rstrip('/')}/api/v1/jobs/{job_id}"


def job_event(job: Job, event_type: EventType, settings: WebhookSettings) -> Event:
    """The event for a finished job. Its id derives from (job, type), so a listener that
    runs twice for the same job produces the same event, not a second one."""
    event_id = "msg_" + hashlib.sha256(f"{job.id}|{event_type}".encode()).hexdigest()[:26]
    created_at = job.finished_at or time.time()
    public = job.public()
    if job.result is not None:
        size = len(orjson.dumps(public["result"]))
        if size > settings.max_payload_bytes:
            # Too large to push: the receiver fetches it from the API instead.
            public["result"] = {"omitted": True, "size_bytes": size,
                                "url": job_link(settings, job.id)}
    body = _body(event_id, event_type, created_at, {"job": public})
    return Event(id=event_id, org_id=job.org_id, type=event_type, created_at=created_at,
                 job_id=job.id, body=body)


def org_event(org_id: str, event_type: EventType, once_key: str, data: dict[str, Any]) -> Event:
    """An event about the org rather than a job. Its id derives from `once_key`, so the same
    fact announced twice (a listener run again) is recorded and delivered once."""
    event_id = "msg_" + hashlib.sha256(f"{org_id}|{event_type}|{once_key}".encode()).hexdigest()[:26]
    now = time.time()
    return Event(id=event_id, org_id=org_id, type=event_type, created_at=now,
                 body=_body(event_id, event_type, now, data))


def test_event(org_id: str, endpoint_id: str) -> Event:
    event_id = "msg_" + secrets.token_hex(13)
    now = time.time()
    data = {"endpoint_id": endpoint_id, "message": "Test event from ai-middleware"}
    return Event(id=event_id, org_id=org_id, type=EventType.TEST, created_at=now,
                 body=_body(event_id, EventType.TEST, now, data))
