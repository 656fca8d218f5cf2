"""OpenAI-compatible API: POST /v1/chat/completions and GET /v1/models.

`model` is `bridge/<slug>` (an org's published bridge) or `<provider>/<model>`. The official
SDKs work unchanged with `base_url=<this API>/v1` and a platform API key. Runs are inline
(recorded as jobs); `stream: true` answers Server-Sent Events in OpenAI's chunk format.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import StreamingResponse

from api.deps import CtxDep, OrgDep
from api.openapi import MODEL_CALL_ERRORS
from api.routes.governor import GateDep
from services.compat import openai_format as fmt
from services.compat.openai_run import list_models, prepare
from services.compat.openai_schemas import ChatCompletionRequest
from services.errors import PlatformError
from services.limits.concurrency import Held

router = APIRouter(prefix="/v1", tags=["openai"])


@router.post("/chat/completions", response_model=None, responses={**MODEL_CALL_ERRORS, 200: {
    "description": "The completion (OpenAI's chat.completion), or with `stream: true` its chunks as SSE",
    "content": {"application/json": {"schema": {"type": "object"}},
                "text/event-stream": {"schema": {"type": "string"}}}}})
async def chat_completions(
    body: ChatCompletionRequest, ctx: CtxDep, org_id: OrgDep, gate: GateDep, response: Response,
) -> dict[str, Any] | StreamingResponse:
    prepared = await prepare(ctx.bridges, ctx.turns, ctx.settings.providers, org_id, body)
    created = int(time.time())
    spec = prepared.spec
    admitted = await gate.admit(prepared.payload.model_dump(mode="json", exclude_none=True),
                                bridge_id=prepared.meta.get("bridge_id"), thread=body.thread_id,
                                bridge_policy=spec.limits if spec else None)
    if not body.stream:
        job = None
        try:
            async with gate.governor.occupy(admitted, Held.INLINE):
                job = await ctx.lifecycle.run_inline(org_id, prepared.kind, prepared.payload, prepared.meta)
        finally:
            await gate.settle(job.meta if job else None)
        assert job is not None
        gate.answer(response)
        return fmt.completion(job.result or {}, cid=fmt.completion_id(job.id), created=created,
                              model=body.model)
    held = AsyncExitStack()
    await held.enter_async_context(gate.governor.occupy(admitted, Held.STREAM))
    events = ctx.lifecycle.stream_inline(org_id, prepared.kind, prepared.payload, prepared.meta)
    try:
        # The first event is awaited here, so a failure before any token is a proper HTTP error.
        started, first = await anext(events)
    except BaseException:
        await gate.settle(None)
        await held.aclose()
        raise
    writer = fmt.ChunkWriter(cid=fmt.completion_id(started.id), created=created, model=body.model)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    async def sse() -> AsyncIterator[bytes]:
        event = first
        try:
            while True:
                if event.event == "chunk":
                    yield writer.chunk(event.data)
                else:
                    closing = writer.finish(event.data)
                    if closing:
                        yield closing
                    if include_usage:
                        yield writer.usage(event.data.get("usage"))
                    break
                _, event = await anext(events)
        except PlatformError as exc:
            yield writer.error(exc.code, exc.message)
        finally:
            await events.aclose()
            await gate.settle(event.data if event.event == "done" else None)
            await held.aclose()
        yield fmt.DONE

    return gate.answer(StreamingResponse(sse(), media_type="text/event-stream",
                                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}))


@router.get("/models")
async def models(ctx: CtxDep, org_id: OrgDep) -> dict[str, Any]:
    return {"object": "list", "data": await list_models(ctx.bridges, org_id)}
