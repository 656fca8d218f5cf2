"""Messages between the API and the workers: versioned, ids only, never secrets.

v1 (`JobMessage`) carries one job. v2 (`JobPack`) carries several jobs of one kind: what a
dispatch round publishes when it moved more than one (services/scheduling; the submits of
one API loop tick share a round), so the broker and the worker handle one delivery a pack
rather than one a job. A worker decodes either with `decode_jobs`.
"""

from __future__ import annotations

from typing import Literal

import orjson
from pydantic import BaseModel, Field, TypeAdapter

from services.broker.base import OutgoingMessage


class JobMessage(BaseModel):
    v: int = 1
    job_id: str
    org_id: str
    kind: str

    def outgoing(self) -> OutgoingMessage:
        return OutgoingMessage(orjson.dumps(self.model_dump(mode="json")), message_id=self.job_id,
                               headers={"v": self.v, "kind": self.kind})

    @classmethod
    def decode(cls, body: bytes) -> JobMessage:
        return cls.model_validate_json(body)


class PackedJob(BaseModel):
    job_id: str
    org_id: str


class JobPack(BaseModel):
    v: Literal[2] = 2
    kind: str
    jobs: list[PackedJob] = Field(min_length=1)

    def outgoing(self) -> OutgoingMessage:
        return OutgoingMessage(orjson.dumps(self.model_dump(mode="json")), message_id=f"pack:{self.jobs[0].job_id}",
                               headers={"v": self.v, "kind": self.kind})

    def messages(self) -> list[JobMessage]:
        return [JobMessage(job_id=j.job_id, org_id=j.org_id, kind=self.kind) for j in self.jobs]


_ANY: TypeAdapter[JobMessage | JobPack] = TypeAdapter(JobMessage | JobPack)


def outgoing(kind: str, jobs: list[tuple[str, str]]) -> OutgoingMessage:
    """One message for `jobs` ((job id, org id) pairs): a JobMessage for one, a JobPack for more."""
    if len(jobs) == 1:
        return JobMessage(job_id=jobs[0][0], org_id=jobs[0][1], kind=kind).outgoing()
    return JobPack(kind=kind, jobs=[PackedJob(job_id=j, org_id=o) for j, o in jobs]).outgoing()


def decode_jobs(body: bytes) -> list[JobMessage]:
    """The jobs a message carries. Raises pydantic's ValidationError for anything else."""
    message = _ANY.validate_json(body)
    return message.messages() if isinstance(message, JobPack) else [message]
