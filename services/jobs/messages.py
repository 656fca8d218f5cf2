"""Messages between the API and the workers: versioned, ids only, never secrets."""

from __future__ import annotations

import orjson
from pydantic import BaseModel

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
