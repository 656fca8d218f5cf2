"""Job <-> flat string fields, shared by the Redis store (a hash per job) and its tests.

Each top-level field is stored as its own hash field so the Lua compare-and-set can read
and write `status` without decoding JSON.
"""

from __future__ import annotations

from typing import Any

import orjson

from services.jobs.model import Job

_PLAIN = {"id", "org_id", "kind", "status"}


def encode_fields(values: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in values.items():
        if name in _PLAIN:
            out[name] = str(value)
        else:
            out[name] = orjson.dumps(value).decode()
    return out


def encode(job: Job) -> dict[str, str]:
    return encode_fields(job.model_dump(mode="json"))


def decode(raw: dict[Any, Any]) -> Job:
    data: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.decode() if isinstance(key, bytes) else key
        text = value.decode() if isinstance(value, bytes) else value
        data[name] = text if name in _PLAIN else orjson.loads(text)
    return Job.model_validate(data)


def cursor_encode(created_at: float, job_id: str) -> str:
    return f"{created_at!r}:{job_id}"


def cursor_decode(cursor: str) -> tuple[float, str]:
    score, _, job_id = cursor.partition(":")
    return float(score), job_id
