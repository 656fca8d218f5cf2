"""Embeddings: `POST /api/v1/embeddings` and OpenAI's `POST /v1/embeddings` (the `openai`
SDK's `embeddings.create` works unchanged; it asks for base64 by default).

`model` is `<provider>/<model>` (e.g. `openai/text-embedding-3-small`); a bare name is a
model of the offline `local` provider (`wordllama-l2-256`, the default). `dimensions` is
checked against what the model returns (a mismatch is an error), not forwarded."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from api.deps import OrgDep
from services.errors import Invalid, Permanent, Unavailable
from services.rag.embeddings.service import EmbeddingService
from services.rag.model import LOCAL_MODEL, LOCAL_PROVIDER


async def get_embeddings(request: Request) -> EmbeddingService:
    service: EmbeddingService | None = getattr(request.app.state, "embeddings", None)
    if service is None:
        raise Unavailable("embeddings are not configured on this process", code="embeddings_unavailable")
    return service


EmbeddingsDep = Annotated[EmbeddingService, Depends(get_embeddings)]
router = APIRouter(tags=["embeddings"])
MAX_INPUTS = 2048


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    input: str | list[str] = Field(min_length=1)
    model: str = Field(default=f"{LOCAL_PROVIDER}/{LOCAL_MODEL}", min_length=1, max_length=264)
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, gt=0)
    user: str | None = None


def split_model(name: str) -> tuple[str, str]:
    provider, _, model = name.partition("/")
    return (provider, model) if model else (LOCAL_PROVIDER, provider)


EMBEDDING_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "The embedding provider refused the input"},
    404: {"description": "Unknown embedding model"},
}


async def _embed(body: EmbeddingRequest, org: str, service: EmbeddingService) -> dict[str, Any]:
    inputs = [body.input] if isinstance(body.input, str) else body.input
    if len(inputs) > MAX_INPUTS or any(not t for t in inputs):
        raise Invalid(f"1-{MAX_INPUTS} non-empty strings", field="input")
    provider, model = split_model(body.model)
    try:
        embedded = await service.embed(inputs, org_id=org, provider=provider, model=model,
                                       dimension=body.dimensions)
    except Permanent as exc:
        if exc.code == "dimension_mismatch":  # the model does not make vectors of that size
            raise Invalid(exc.message, field="dimensions") from exc
        if exc.code in ("unsupported", "unknown_provider", "model_not_found"):
            raise Invalid(exc.message, field="model") from exc
        raise
    data = []
    for i, vector in enumerate(embedded.vectors):
        value: Any = (base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
                      if body.encoding_format == "base64" else vector)
        data.append({"object": "embedding", "index": i, "embedding": value})
    tokens = embedded.input_tokens
    return {"object": "list", "data": data, "model": body.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}, "cached": embedded.cached}


@router.post("/api/v1/embeddings", responses=EMBEDDING_ERRORS)
async def embeddings(body: EmbeddingRequest, org: OrgDep, service: EmbeddingsDep) -> dict[str, Any]:
    return await _embed(body, org, service)


@router.post("/v1/embeddings", responses=EMBEDDING_ERRORS)
async def openai_embeddings(body: EmbeddingRequest, org: OrgDep, service: EmbeddingsDep) -> dict[str, Any]:
    return await _embed(body, org, service)
