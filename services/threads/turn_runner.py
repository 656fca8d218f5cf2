"""Chatbot turns as `chatbot` jobs through the job lifecycle: the TurnRunner behind the
chatbot HTTP route, the WebSocket, and `thread_id` on the bridge and OpenAI routes.

A turn is prepared once (resolve the bridge, open the thread and take a turn number, build
the ChatbotJobPayload from the published version) and then either run in this process
(`run_turn`: streamed events, the WebSocket and sync/SSE answers) or queued (`submit_turn`:
202 with the job, or a webhook). Either way it is one job record, one metric row and the
same webhooks as any job; turn order across processes is the executor's (TurnOrder).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from services.auth.principal import Principal
from services.bridges.model import ResolvedBridge
from services.bridges.run import bridge_meta, build_payload
from services.bridges.service import BridgeService
from services.jobs.lifecycle import JobLifecycle
from services.jobs.model import JobKind
from services.jobs.store import Created
from services.providers.types import Message
from services.threads.executor import ChatbotJobPayload
from services.threads.service import ThreadService
from services.threads.turns import CHUNK, DONE, THREAD, TurnEvent


@dataclass(frozen=True, slots=True)
class PreparedTurn:
    resolved: ResolvedBridge
    payload: ChatbotJobPayload
    meta: dict[str, Any]

    @property
    def opened(self) -> TurnEvent:
        return TurnEvent(THREAD, {"thread_id": self.payload.thread_id, "turn": self.payload.turn})


class JobTurnRunner:
    def __init__(self, lifecycle: JobLifecycle, bridges: BridgeService, threads: ThreadService) -> None:
        self._lifecycle = lifecycle
        self._bridges = bridges
        self._threads = threads

    async def prepare(
        self, principal: Principal, bridge: str, thread_id: str | None, messages: list[Message],
        variables: dict[str, Any], *, stream: bool = False, overrides: dict[str, Any] | None = None,
    ) -> PreparedTurn:
        """Resolve the bridge, open the turn and build its payload. Raises NotFound for an
        unknown bridge or another org's (or end user's) thread, 422 for missing variables."""
        resolved = await self._bridges.resolve(principal.org_id, bridge)
        principal.require_bridge(resolved.bridge_id, resolved.slug)
        # Validate the input before a turn number is taken: a refused turn leaves no gap.
        chat = build_payload(resolved, messages, variables=variables, stream=stream, overrides=overrides)
        thread, turn = await self._threads.open_turn(principal, resolved.bridge_id, thread_id,
                                                     bridge_slug=resolved.slug)
        chat.metadata["thread_id"] = thread.id
        payload = ChatbotJobPayload.model_validate({
            **chat.model_dump(exclude_unset=True), "stream": stream, "thread_id": thread.id,
            "end_user": principal.end_user, "turn": turn, "memory": resolved.spec.memory,
        })
        meta = {**bridge_meta(resolved), "thread_id": thread.id}
        if principal.end_user:
            meta["end_user"] = principal.end_user
        return PreparedTurn(resolved, payload, meta)

    async def run_turn(
        self, principal: Principal, bridge: str, thread_id: str | None, message: Message,
        variables: dict[str, Any],
    ) -> AsyncIterator[TurnEvent]:
        """`thread`, then `chunk`s as the model writes, then `done` with the job's result."""
        prepared = await self.prepare(principal, bridge, thread_id, [message], variables, stream=True)
        yield prepared.opened
        async for event in self.stream(principal, prepared):
            yield event

    async def stream(self, principal: Principal, prepared: PreparedTurn) -> AsyncIterator[TurnEvent]:
        events = self._lifecycle.stream_inline(principal.org_id, JobKind.CHATBOT, prepared.payload,
                                               prepared.meta)
        try:
            async for job, event in events:
                if event.outcome is not None:
                    yield TurnEvent(DONE, {"result": job.result, "job_id": job.id})
                elif event.event == CHUNK:
                    yield TurnEvent(CHUNK, {"delta": event.data.get("delta") or ""})
        finally:
            await events.aclose()

    async def drop(self, prepared: PreparedTurn) -> None:
        """A prepared turn that will not run (refused by a limit): let the next turn go."""
        await self._threads.drop_turn(prepared.payload.thread_id, prepared.payload.turn)

    async def submit_turn(
        self, principal: Principal, prepared: PreparedTurn, *, webhook: dict[str, Any] | None = None,
        idempotency_key: str | None = None, extra_meta: dict[str, Any] | None = None,
    ) -> Created:
        """Queue the turn as a job (202); with `webhook`, its result is POSTed there."""
        request = prepared.payload.model_dump(mode="json", exclude_none=True)
        if webhook is not None:
            request["webhook"] = webhook
        turn = prepared.payload
        try:
            created = await self._lifecycle.submit(principal.org_id, JobKind.CHATBOT, request,
                                                   idempotency_key=idempotency_key,
                                                   meta={**prepared.meta, **(extra_meta or {})})
        except BaseException:
            await self._threads.drop_turn(turn.thread_id, turn.turn)
            raise
        if not created.created:  # an Idempotency-Key replay: the earlier job holds its own turn
            await self._threads.drop_turn(turn.thread_id, turn.turn)
        return created
