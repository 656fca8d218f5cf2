"""Batches: `/api/v1/batches` (a JSON list or a JSONL upload), and OpenAI's `/v1/files` +
`/v1/batches` so the `openai` SDK's files.create, batches.create/retrieve/cancel and the
output file download work unchanged."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.deps import CtxDep, OrgDep
from services.errors import Invalid, NotFound
from services.scheduling.batches import MAX_REQUESTS, parse_jsonl

UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"description": "The upload is over SCHEDULING_BATCH_MAX_BYTES"},
    422: {"description": "A request or line is invalid: each named with the reason"},
}
router = APIRouter(prefix="/api/v1/batches", tags=["batches"])
files_router = APIRouter(prefix="/v1/files", tags=["openai"])
openai_router = APIRouter(prefix="/v1/batches", tags=["openai"])


Routing = Literal["auto", "jobs", "provider"]


class BatchSubmit(BaseModel):
    kind: str = Field(default="model", min_length=1, max_length=64)
    requests: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_REQUESTS)
    metadata: dict[str, Any] | None = None
    # `auto`: requests whose provider has a batch API go there when the window is >= 24h
    # (half price, hours); `jobs`: all run as jobs; `provider`: all go to provider batches.
    routing: Routing = "auto"
    completion_window: str = Field(default="24h", max_length=16)


def _jsonl(lines: list[dict[str, Any]]) -> Response:
    return Response(b"".join(orjson.dumps(line) + b"\n" for line in lines), media_type="application/jsonl")


@router.post("", status_code=201, responses=UPLOAD_ERRORS)
async def create_batch(request: Request, ctx: CtxDep, org_id: OrgDep) -> dict[str, Any]:
    """JSON `{kind, requests: [{custom_id, payload}], metadata}`, or a JSONL body
    (`Content-Type: application/jsonl`, `?kind=`) with one request a line."""
    raw = await request.body()
    content_type = request.headers.get("content-type") or ""
    if "jsonl" in content_type or "ndjson" in content_type:
        query = request.query_params
        return await ctx.batches.create(org_id, query.get("kind", "model"), parse_jsonl(raw),
                                        routing=query.get("routing", "auto"),
                                        completion_window=query.get("completion_window", "24h"))
    try:
        body = BatchSubmit.model_validate_json(raw)
    except ValueError as exc:
        raise Invalid("request validation failed", field="requests") from exc
    return await ctx.batches.create(org_id, body.kind, body.requests, metadata=body.metadata, routing=body.routing,
                                    completion_window=body.completion_window)


@router.get("/{batch_id}")
async def get_batch(batch_id: str, ctx: CtxDep, org_id: OrgDep) -> dict[str, Any]:
    return await ctx.batches.get(org_id, batch_id)


@router.post("/{batch_id}/cancel")
async def cancel_batch(batch_id: str, ctx: CtxDep, org_id: OrgDep) -> dict[str, Any]:
    return await ctx.batches.cancel(org_id, batch_id)


@router.get("/{batch_id}/results")
async def batch_results(batch_id: str, ctx: CtxDep, org_id: OrgDep) -> Response:
    return _jsonl(await ctx.batches.results(org_id, batch_id))


# -- OpenAI-compatible files and batches --------------------------------------------------



def _file_object(file_id: str, content: bytes, purpose: str, name: str) -> dict[str, Any]:
    return {"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
            "filename": name, "purpose": purpose, "status": "processed"}


def _multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """name -> (filename, bytes) of a multipart/form-data body (the SDK's file upload)."""
    found = re.search(r'boundary="?([^";]+)"?', content_type)
    if "multipart/form-data" not in content_type or found is None:
        raise Invalid("expected multipart/form-data with `file` and `purpose`", field="file")
    parts: dict[str, tuple[str | None, bytes]] = {}
    for chunk in body.split(b"--" + found.group(1).encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.strip(b"\r\n").partition(b"\r\n\r\n")
        disposition = head.decode("utf-8", "replace")
        name = re.search(r'name="([^"]*)"', disposition)
        filename = re.search(r'filename="([^"]*)"', disposition)
        if name:
            parts[name.group(1)] = (filename.group(1) if filename else None, data)
    return parts


@files_router.post("", responses=UPLOAD_ERRORS)
async def upload_file(request: Request, ctx: CtxDep, org_id: OrgDep) -> dict[str, Any]:
    parts = _multipart(request.headers.get("content-type") or "", await request.body())
    if "file" not in parts:
        raise Invalid("the upload has no `file` part", field="file")
    filename, content = parts["file"]
    purpose = parts.get("purpose", (None, b"batch"))[1].decode()
    if purpose != "batch":
        raise Invalid("only purpose=batch is supported", field="purpose")
    file_id = "file-" + uuid.uuid4().hex
    await ctx.batches.store.put_file(file_id, org_id, content)
    return _file_object(file_id, content, purpose, filename or "input.jsonl")


@files_router.get("/{file_id}/content")
async def file_content(file_id: str, ctx: CtxDep, org_id: OrgDep) -> Response:
    if file_id.startswith("file-out-"):
        batch_id = file_id.removeprefix("file-out-")
        return _jsonl([_openai_line(r) for r in await ctx.batches.results(org_id, batch_id)])
    content = await ctx.batches.store.get_file(file_id, org_id)
    if content is None:
        raise NotFound(f"file {file_id} not found")
    return Response(content, media_type="application/jsonl")


class OpenAIBatchCreate(BaseModel):
    input_file_id: str
    endpoint: Literal["/v1/chat/completions"] = "/v1/chat/completions"
    completion_window: str = "24h"
    metadata: dict[str, Any] | None = None
    # Ours (the SDK's `extra_body`): see BatchSubmit.
    routing: Routing = "auto"


def _openai_line(row: dict[str, Any]) -> dict[str, Any]:
    ok = row["status"] == "succeeded"
    result = row.get("result") or {}
    body = {"object": "chat.completion", "model": result.get("model"), "choices": [{
        "index": 0, "finish_reason": result.get("finish_reason") or "stop",
        "message": {"role": "assistant", "content": result.get("content")}}],
        "usage": result.get("usage")} if ok else None
    return {"id": row["job_id"], "custom_id": row["custom_id"],
            "response": {"status_code": 200, "body": body} if ok else None,
            "error": None if ok else row.get("error")}


def _openai_batch(batch: dict[str, Any]) -> dict[str, Any]:
    counts = batch["counts"]
    status = {"in_progress": "in_progress", "cancelling": "cancelling", "cancelled": "cancelled",
              "completed": "completed"}[batch["status"]]
    done = status in ("completed", "cancelled")
    return {"id": batch["id"], "object": "batch", "endpoint": "/v1/chat/completions",
            "input_file_id": batch["metadata"].get("input_file_id", ""),
            "completion_window": batch.get("completion_window", "24h"), "status": status,
            "output_file_id": f"file-out-{batch['id']}" if done else None, "error_file_id": None,
            "created_at": int(batch["created_at"]), "metadata": batch["metadata"].get("user"),
            "request_counts": {"total": counts["total"], "completed": counts["succeeded"],
                               "failed": counts["failed"] + counts["cancelled"]}}


def _openai_payload(body: dict[str, Any]) -> dict[str, Any]:
    """A chat.completions body as a model job's payload (`provider/model`, as /v1/chat/completions)."""
    model = str(body.get("model") or "")
    provider, _, name = model.partition("/")
    payload = {k: v for k, v in body.items() if k in ("messages", "temperature", "max_tokens", "stop", "seed",
                                                      "user", "tools", "tool_choice", "response_format")}
    return {**payload, "provider": provider, "model": name} if name else {**payload, "model": model}


@openai_router.post("", responses=UPLOAD_ERRORS)
async def openai_create_batch(body: OpenAIBatchCreate, ctx: CtxDep, org_id: OrgDep) -> dict[str, Any]:
    content = await ctx.batches.store.get_file(body.input_file_id, org_id)
    if content is None:
        raise Invalid(f"file {body.input_file_id} not found", field="input_file_id")
    lines = parse_jsonl(content)
    requests = [{"custom_id": line.get("custom_id"), "payload": _openai_payload(line.get("body") or {})}
                for line in lines]
    batch = await ctx.batches.create(org_id, "model", requests, completion_window=body.completion_window,
                                     routing=body.routing,
                                     metadata={"input_file_id": body.input_file_id, "user": body.metadata})
    return _openai_batch(batch)


@openai_router.get("/{batch_id}")
async def openai_get_batch(batch_id: str, ctx: CtxDep, org_id: OrgDep) -> dict[str, Any]:
    return _openai_batch(await ctx.batches.get(org_id, batch_id))


@openai_router.post("/{batch_id}/cancel")
async def openai_cancel_batch(batch_id: str, ctx: CtxDep, org_id: OrgDep) -> dict[str, Any]:
    return _openai_batch(await ctx.batches.cancel(org_id, batch_id))
