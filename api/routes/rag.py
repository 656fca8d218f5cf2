"""RAG HTTP API: collections, documents (JSON or multipart upload), search and query."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.datastructures import UploadFile

from api.deps import CtxDep, OrgDep
from api.openapi import MODEL_CALL_ERRORS
from services.errors import Invalid, Unavailable
from services.jobs.model import JobKind
from services.rag.executor import RagJobPayload
from services.rag.model import SourceKind
from services.rag.schemas import CollectionCreate, CollectionUpdate, DocumentAccepted, DocumentCreate, SearchHit
from services.rag.search import SearchQuery
from services.rag.service import RagService


async def get_rag(request: Request) -> RagService:
    rag: RagService | None = getattr(request.app.state, "rag", None)
    if rag is None:
        raise Unavailable("RAG is not configured on this process", code="rag_unavailable")
    return rag


RagDep = Annotated[RagService, Depends(get_rag)]
router = APIRouter(prefix="/api/v1/rag", tags=["rag"])
UPLOAD_KINDS = {".txt": SourceKind.TEXT, ".md": SourceKind.MARKDOWN, ".markdown": SourceKind.MARKDOWN,
                ".html": SourceKind.HTML, ".htm": SourceKind.HTML, ".pdf": SourceKind.PDF}


def _page(items: list[Any], cursor: str | None) -> dict[str, Any]:
    return {"data": [i.model_dump(mode="json") for i in items], "next_cursor": cursor}


@router.post("/collections", status_code=201, responses={409: {"description": "The org has a collection of that name"}})
async def create_collection(body: CollectionCreate, org: OrgDep, rag: RagDep) -> dict[str, Any]:
    return (await rag.create_collection(org, body)).model_dump(mode="json")


@router.get("/collections")
async def list_collections(org: OrgDep, rag: RagDep, limit: Annotated[int, Query(ge=1, le=100)] = 20,
                           cursor: str | None = None) -> dict[str, Any]:
    page = await rag.list_collections(org, limit=limit, cursor=cursor)
    return _page(page.items, page.next_cursor)


@router.get("/collections/{collection_id}")
async def get_collection(collection_id: str, org: OrgDep, rag: RagDep) -> dict[str, Any]:
    return (await rag.collection(org, collection_id)).model_dump(mode="json")


@router.patch("/collections/{collection_id}")
async def update_collection(collection_id: str, body: CollectionUpdate, org: OrgDep, rag: RagDep) -> dict[str, Any]:
    return (await rag.update_collection(org, collection_id, body)).model_dump(mode="json")


@router.delete("/collections/{collection_id}", status_code=204)
async def delete_collection(collection_id: str, org: OrgDep, rag: RagDep) -> Response:
    await rag.delete_collection(org, collection_id)
    return Response(status_code=204)


async def _upload(request: Request, org: str, rag: RagService, collection_id: str) -> DocumentAccepted:
    form = await request.form(max_files=1)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise Invalid("a file part is required", field="file")
    suffix = "." + upload.filename.rsplit(".", 1)[-1].lower() if "." in upload.filename else ""
    kind = UPLOAD_KINDS.get(suffix)
    if kind is None:
        raise Invalid(f"unsupported file type {suffix or '(none)'}: use {', '.join(UPLOAD_KINDS)}", field="file")
    data = await upload.read(rag.max_document_bytes + 1)
    metadata_raw = form.get("metadata")
    try:
        metadata = orjson.loads(metadata_raw) if isinstance(metadata_raw, str) and metadata_raw else {}
    except orjson.JSONDecodeError as exc:
        raise Invalid("must be a JSON object", field="metadata") from exc
    if not isinstance(metadata, dict):
        raise Invalid("must be a JSON object", field="metadata")
    external = form.get("external_id")
    doc, unchanged = await rag.add_document(
        org, collection_id, kind=kind, data=data, filename=upload.filename, metadata=metadata,
        external_id=external if isinstance(external, str) and external else None)
    return DocumentAccepted(id=doc.id, status=doc.status.value, unchanged=unchanged)


@router.post("/collections/{collection_id}/documents", status_code=202)
async def add_document(collection_id: str, request: Request, org: OrgDep, rag: RagDep) -> DocumentAccepted:
    """JSON `{text | url, format, title, external_id, metadata}` or multipart with a `file`."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        return await _upload(request, org, rag, collection_id)
    try:
        body = DocumentCreate.model_validate_json(await request.body())
    except ValueError as exc:
        from pydantic import ValidationError

        if isinstance(exc, ValidationError):
            raise
        raise Invalid("body must be JSON", field="body") from exc
    if (body.text is None) == (body.url is None):
        raise Invalid("give exactly one of text or url", field="text")
    kind = SourceKind.URL if body.url else body.format
    if kind in (SourceKind.PDF, SourceKind.URL) and body.text is not None:
        raise Invalid("JSON text is plain text, markdown or html; upload PDFs as files", field="format")
    doc, unchanged = await rag.add_document(
        org, collection_id, kind=kind, data=body.text.encode() if body.text is not None else None, url=body.url,
        title=body.title, external_id=body.external_id, metadata=body.metadata)
    return DocumentAccepted(id=doc.id, status=doc.status.value, unchanged=unchanged)


@router.get("/collections/{collection_id}/documents")
async def list_documents(collection_id: str, org: OrgDep, rag: RagDep,
                         limit: Annotated[int, Query(ge=1, le=100)] = 20, cursor: str | None = None) -> dict[str, Any]:
    page = await rag.list_documents(org, collection_id, limit=limit, cursor=cursor)
    return _page(page.items, page.next_cursor)


@router.get("/collections/{collection_id}/documents/{document_id}")
async def get_document(collection_id: str, document_id: str, org: OrgDep, rag: RagDep) -> dict[str, Any]:
    return (await rag.document(org, collection_id, document_id)).model_dump(mode="json")


@router.delete("/collections/{collection_id}/documents/{document_id}", status_code=204)
async def delete_document(collection_id: str, document_id: str, org: OrgDep, rag: RagDep) -> Response:
    await rag.delete_document(org, collection_id, document_id)
    return Response(status_code=204)


@router.post("/collections/{collection_id}/search")
async def search(collection_id: str, body: SearchQuery, org: OrgDep, rag: RagDep) -> dict[str, Any]:
    hits = await rag.search(org, collection_id, body)
    return {"data": [SearchHit.of(h).model_dump() for h in hits], "mode": body.mode.value}


@router.post("/query", responses={404: {"description": "A collection or the bridge is not found"},
                                   **MODEL_CALL_ERRORS})
async def query(body: RagJobPayload, org: OrgDep, ctx: CtxDep) -> dict[str, Any]:
    """Retrieve and answer inline, recorded as a `rag` job (its metric row and webhooks too);
    `POST /api/v1/jobs {kind: rag}` queues the same work."""
    job = await ctx.lifecycle.run_inline(org, JobKind.RAG, body, {})
    meta = job.meta
    return {**(job.result or {}), "job_id": job.id, "provider": meta.get("provider"), "model": meta.get("model"),
            "usage": meta.get("usage"), "cost_usd": meta.get("cost_usd"), "retrieval": meta.get("retrieval")}
