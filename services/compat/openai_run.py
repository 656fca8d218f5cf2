"""Resolves an OpenAI-style `model` to what runs: `bridge/<slug or id>` runs the org's
published bridge; `<provider>/<model>` runs that model directly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config import ProvidersSettings
from services.auth.principal import Principal
from services.bridges import catalog
from services.bridges.model import BridgeSpec, BridgeType
from services.bridges.run import bridge_meta, build_payload
from services.bridges.service import BridgeService
from services.chat.schemas import ChatJobPayload
from services.compat.openai_schemas import ChatCompletionRequest
from services.config.paging import MAX_LIMIT
from services.errors import Invalid, NotFound
from services.jobs.model import JobKind
from services.threads.turn_runner import JobTurnRunner

BRIDGE_PREFIX = "bridge/"
# /v1/models lists at most this many bridges (10 store pages); more is a listing API's job.
MAX_LISTED_BRIDGES = 10 * MAX_LIMIT


@dataclass(slots=True)
class Prepared:
    payload: ChatJobPayload
    kind: JobKind
    meta: dict[str, Any]
    # The bridge's published spec (its limits and guardrails), for `bridge/<slug>` models.
    spec: BridgeSpec | None = None


def _model_not_found(model: str) -> NotFound:
    return NotFound(f"The model `{model}` does not exist or you do not have access to it.",
                    code="model_not_found")


async def prepare(
    bridges: BridgeService, turns: JobTurnRunner, providers: ProvidersSettings, org_id: str,
    req: ChatCompletionRequest,
) -> Prepared:
    """A chatbot bridge, or any bridge with `thread_id`, runs a conversation turn: the
    request's messages are the turn's new ones, the thread's history comes from the store."""
    messages = req.chat_messages()
    payload: ChatJobPayload
    if req.model.startswith(BRIDGE_PREFIX):
        ref = req.model.removeprefix(BRIDGE_PREFIX)
        resolved = await bridges.resolve(org_id, ref)
        if resolved.type == BridgeType.CHATBOT or req.thread_id:
            turn = await turns.prepare(Principal(org_id), ref, req.thread_id, messages, req.variables,
                                       stream=req.stream, overrides=req.overrides())
            payload, kind, meta = turn.payload, JobKind.CHATBOT, turn.meta
        else:
            payload = build_payload(resolved, messages, variables=req.variables, stream=req.stream,
                                    overrides=req.overrides())
            kind, meta = JobKind.MODEL, bridge_meta(resolved)
        if req.tools:
            payload.tools = [*payload.tools, *req.chat_tools()]
        return Prepared(payload, kind, meta, resolved.spec)
    provider, _, model = req.model.partition("/")
    if not model:
        raise Invalid('model must be "bridge/<slug>" or "<provider>/<model>"', field="model")
    if req.thread_id:
        raise Invalid("a thread belongs to a bridge: use model bridge/<slug> with thread_id",
                      field="thread_id")
    open_providers = frozenset(providers.openai_compatible)
    if catalog.check_model(provider, model, open_providers) is not None:
        raise _model_not_found(req.model)
    values: dict[str, Any] = {k: v for k, v in req.overrides().items() if v is not None}
    payload = ChatJobPayload(
        messages=messages, tools=req.chat_tools(), provider=provider, model=model,
        stream=req.stream, **values,
    )
    return Prepared(payload, JobKind.MODEL, {})


async def list_models(bridges: BridgeService, org_id: str) -> list[dict[str, Any]]:
    """The org's bridges as `bridge/<slug>`, then every provider's chat models."""
    out: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(out) < MAX_LISTED_BRIDGES:
        page = await bridges.list(org_id, limit=MAX_LIMIT, cursor=cursor)
        out += [{"id": BRIDGE_PREFIX + b.slug, "object": "model", "created": int(b.created_at),
                 "owned_by": org_id} for b in page.items if b.published_version is not None]
        cursor = page.next_cursor
        if cursor is None:
            break
    for provider in catalog.providers():
        out += [{"id": f"{provider}/{m.model}", "object": "model", "created": 0,
                 "owned_by": provider} for m in catalog.chat_models(provider)]
    return out
