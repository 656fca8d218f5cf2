"""Event bodies: the documented shape, a stable id per job event, large results as links."""

from __future__ import annotations

import orjson

from config import WebhookSettings
from services.jobs.model import Job, JobKind, JobStatus
from services.webhooks.models import EventType
from services.webhooks.payloads import job_event


def _job(result: dict[str, object]) -> Job:
    return Job(org_id="org-a", kind=JobKind.MODEL, status=JobStatus.SUCCEEDED,
               request={"messages": [], "webhook": {"url": "https://x.example/h"}},
               result=result, finished_at=1_700_000_000.5)


def test_the_body_is_id_type_created_at_and_the_public_job() -> None:
    job = _job({"content": "hi"})
    event = job_event(job, EventType.JOB_SUCCEEDED, WebhookSettings())
    body = orjson.loads(event.body)
    assert body["id"] == event.id and event.id.startswith("msg_")
    assert body["type"] == "job.succeeded"
    assert body["created_at"] == "2023-11-14T22:13:20.500000Z"
    assert body["data"]["job"] == job.public()
    assert "request" not in body["data"]["job"]
    # The same job and type always give the same event id (a listener may run twice).
    assert job_event(job, EventType.JOB_SUCCEEDED, WebhookSettings()).id == event.id
    assert job_event(job, EventType.JOB_FAILED, WebhookSettings()).id != event.id


def test_a_result_over_the_limit_is_replaced_by_a_link() -> None:
    job = _job({"content": "x" * 5000})
    settings = WebhookSettings(max_payload_bytes=1024, public_base_url="https://api.example/")
    body = orjson.loads(job_event(job, EventType.JOB_SUCCEEDED, settings).body)
    result = body["data"]["job"]["result"]
    assert result == {"omitted": True, "size_bytes": len(orjson.dumps(job.result)),
                      "url": f"https://api.example/api/v1/jobs/{job.id}"}
    small = orjson.loads(job_event(_job({"content": "short"}), EventType.JOB_SUCCEEDED,
                                   settings).body)
    assert small["data"]["job"]["result"] == {"content": "short"}


def test_without_a_base_url_the_link_is_the_api_path() -> None:
    job = _job({"content": "x" * 300_000})
    result = orjson.loads(job_event(job, EventType.JOB_SUCCEEDED, WebhookSettings()).body)
    assert result["data"]["job"]["result"]["url"] == f"/api/v1/jobs/{job.id}"
