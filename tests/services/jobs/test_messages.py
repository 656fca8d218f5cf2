"""Job messages on the wire: a submit's one job (v1) and a dispatch round's pack (v2) both
decode to the jobs they carry; anything else is refused, so the worker dead-letters it."""

from __future__ import annotations

import orjson
import pytest
from pydantic import ValidationError

from services.jobs.messages import JobMessage, decode_jobs, outgoing


def test_one_job_goes_as_a_v1_message_that_workers_before_packs_also_read() -> None:
    message = outgoing("model", [("job_1", "org-a")])
    assert orjson.loads(message.body) == {"v": 1, "job_id": "job_1", "org_id": "org-a", "kind": "model"}
    assert message.message_id == "job_1" and message.headers == {"v": 1, "kind": "model"}
    assert decode_jobs(message.body) == [JobMessage(job_id="job_1", org_id="org-a", kind="model")]


def test_several_jobs_go_as_one_pack_and_decode_in_order() -> None:
    message = outgoing("rag", [("job_1", "org-a"), ("job_2", "org-b"), ("job_3", "org-a")])
    assert orjson.loads(message.body)["v"] == 2 and message.headers == {"v": 2, "kind": "rag"}
    assert [(m.job_id, m.org_id, m.kind) for m in decode_jobs(message.body)] == [
        ("job_1", "org-a", "rag"), ("job_2", "org-b", "rag"), ("job_3", "org-a", "rag")]


@pytest.mark.parametrize("body", [
    b"not json",
    b"{}",
    b'{"v": 2, "kind": "model", "jobs": []}',  # a pack of nothing
    b'{"v": 1, "kind": "model", "jobs": [{"job_id": "j", "org_id": "o"}]}',  # a pack that says v1
    b'{"v": 2, "kind": "model", "jobs": [{"job_id": "j"}]}',
])
def test_anything_else_is_refused(body: bytes) -> None:
    with pytest.raises(ValidationError):
        decode_jobs(body)
