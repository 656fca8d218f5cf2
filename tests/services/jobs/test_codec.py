"""A job record through its Redis hash fields: encode, then decode from either answer shape."""

from __future__ import annotations

from services.jobs import codec
from services.jobs.model import Job, JobError, JobStatus


def _job() -> Job:
    return Job(org_id='org "q" é', kind="model", status=JobStatus.FAILED, attempts=2, started_at=1.5,
               request={"messages": [{"role": "user", "content": "hi"}]}, meta={"n": [1, None, 2.5]},
               error=JobError(code="x", message="m"), idempotency_key="k")


def test_a_flat_hgetall_answer_of_bytes_decodes_to_the_job_encoded() -> None:
    job = _job()
    flat = [part.encode() for pair in codec.encode(job).items() for part in pair]
    decoded = codec.decode_flat(flat)
    assert decoded == job
    assert decoded.status is JobStatus.FAILED and isinstance(decoded.error, JobError)


def test_a_hash_of_text_decodes_as_one_of_bytes() -> None:
    job = _job()
    as_text = codec.encode(job)
    assert codec.decode(as_text) == codec.decode({k.encode(): v.encode() for k, v in as_text.items()}) == job
