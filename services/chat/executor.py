"""Runs one chat request for a job. (Minimal form: the provider named in the payload.)"""

from __future__ import annotations

from typing import Any

from services.chat.schemas import ChatJobPayload
from services.errors import Permanent
from services.jobs.model import Job
from services.providers.mock import MockProvider


async def execute_job(ctx: Any, job: Job) -> dict[str, Any]:
    payload = ChatJobPayload.model_validate(job.request)
    if payload.provider != "mock":
        raise Permanent(f"unknown provider {payload.provider!r}", code="unknown_provider")
    result = await MockProvider().complete(payload, model=payload.model, api_key=None)
    return result.model_dump(mode="json")
