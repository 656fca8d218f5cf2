"""Threads of the org's chatbots: list, read, rename, erase. An API key sees every thread
of its org; an end user (JWT) sees only their own. Anyone else's thread answers 404."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from api.deps import CtxDep
from api.principal import PrincipalDep, preflight
from services.config.paging import DEFAULT_LIMIT, MAX_LIMIT
from services.errors import Unavailable
from services.threads.schemas import MessageOut, ThreadOut, ThreadPatch
from services.threads.service import ThreadService

router = APIRouter(prefix="/api/v1/threads", tags=["threads"])


async def get_threads(request: Request) -> ThreadService:
    service: ThreadService | None = getattr(request.app.state, "threads", None)
    if service is None:
        raise Unavailable("threads are not started in this process", code="chatbot_unavailable")
    return service


ThreadsDep = Annotated[ThreadService, Depends(get_threads)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=200)]


@router.get("")
async def list_threads(
    threads: ThreadsDep, principal: PrincipalDep, ctx: CtxDep,
    bridge: Annotated[str | None, Query(max_length=64, description="a bridge id or slug")] = None,
    user: Annotated[str | None, Query(max_length=256)] = None, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """Newest first. `user` filters an API key's listing; an end user always gets their own."""
    bridge_id = await ctx.bridges.id_of(principal.org_id, bridge) if bridge else None
    if bridge and bridge_id is None:
        return {"data": [], "next_cursor": None}
    page = await threads.list(principal, bridge_id=bridge_id, end_user=user, limit=limit, cursor=cursor)
    return {"data": [ThreadOut.of(t) for t in page.items], "next_cursor": page.next_cursor}


@router.get("/{thread_id}")
async def get_thread(thread_id: str, threads: ThreadsDep, principal: PrincipalDep) -> ThreadOut:
    return ThreadOut.of(await threads.get(principal, thread_id))


@router.get("/{thread_id}/messages")
async def list_messages(
    thread_id: str, threads: ThreadsDep, principal: PrincipalDep, cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """Oldest first, in the order the turns ran."""
    page = await threads.messages(principal, thread_id, limit=limit, cursor=cursor)
    return {"data": [MessageOut.of(m) for m in page.items], "next_cursor": page.next_cursor}


@router.patch("/{thread_id}")
async def update_thread(thread_id: str, body: ThreadPatch, threads: ThreadsDep, principal: PrincipalDep) -> ThreadOut:
    changes = body.model_dump(exclude_none=True)
    return ThreadOut.of(await threads.update(principal, thread_id, changes))


@router.delete("/{thread_id}", status_code=204)
async def delete_thread(thread_id: str, threads: ThreadsDep, principal: PrincipalDep) -> Response:
    """Erase the thread and every message of it."""
    await threads.delete(principal, thread_id)
    return Response(status_code=204)


router.add_api_route("/{path:path}", preflight, methods=["OPTIONS"], include_in_schema=False)
router.add_api_route("", preflight, methods=["OPTIONS"], include_in_schema=False)
