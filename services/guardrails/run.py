"""A bridge's guardrails as the job lifecycle's RunGuard (services/jobs/guard.py): the one
place the block list, the moderation call and redaction run, for every path (inline sync,
stream, queued, chatbot turns) and every kind whose payload is a chat request.

Where redaction applies follows `redact_in` (provider, record, or both):

| redact_in | provider is sent | job record keeps (request + result) |
|---|---|---|
| provider | redacted | the original |
| record | the original | redacted |
| both | redacted | redacted |

A queued job's worker reads its request back from the record, so with `record` alone the
record holds the original while the job waits and is redacted when it ends (finished,
cancelled or dead-lettered); with `both` it is redacted from the start. A chatbot turn's
thread keeps its messages redacted whenever the record is: with `provider` or `both` it
stores the redacted text it was given, with `record` alone the turn's payload carries
`memory_redact` and the executor redacts what it stores.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel

from services.chat.completer import ChatCompleter
from services.chat.schemas import ChatJobPayload
from services.guardrails import service
from services.guardrails.model import GuardrailPolicy, Stage
from services.guardrails.moderation import classifier
from services.guardrails.redact import redact
from services.jobs.executor import RunAttempts
from services.jobs.model import Job

# The job meta a bridge run carries (services/bridges/run.py bridge_meta) -> its policy.
PolicyOf = Callable[[str, dict[str, Any]], Awaitable[GuardrailPolicy | None]]


class PolicyRun:
    """One job's guarded run under `policy` (GuardedRun)."""

    def __init__(self, policy: GuardrailPolicy, completer: ChatCompleter) -> None:
        self.policy = policy
        self._completer = completer

    def _redacts(self, stage: Stage) -> bool:
        return bool(self.policy.redact) and stage in self.policy.redact_in

    def check(self, payload: BaseModel) -> None:
        if isinstance(payload, ChatJobPayload):
            service.check_block_list(self.policy, payload)

    async def before_run(self, job: Job, payload: BaseModel, attempts: RunAttempts) -> BaseModel:
        if not isinstance(payload, ChatJobPayload):
            return payload
        self.check(payload)
        if self.policy.moderation is not None:
            classify = classifier(self._completer, self.policy.moderation, org_id=job.org_id, job_id=job.id,
                                  attempts=attempts)
            await service.moderate(self.policy, payload, classify)
        sent = service.apply(self.policy, payload, stage=Stage.PROVIDER)
        if (self._redacts(Stage.RECORD) and not self._redacts(Stage.PROVIDER)
                and "memory_redact" in type(sent).model_fields):
            # A chatbot turn: the provider gets the original, its thread keeps it redacted.
            sent = sent.model_copy(update={"memory_redact": list(self.policy.redact)})
        return sent

    def queued_request(self, request: dict[str, Any]) -> dict[str, Any]:
        # The worker needs the original unless the provider is sent the redacted text too.
        return self.record_request(request) if self._redacts(Stage.PROVIDER) else request

    def record_request(self, request: dict[str, Any]) -> dict[str, Any]:
        if not self._redacts(Stage.RECORD):
            return request
        out = dict(request)
        if isinstance(out.get("system"), str):
            out["system"] = redact(out["system"], self.policy.redact)
        out["messages"] = [self._message(m) for m in request.get("messages") or []]
        return out

    def record_result(self, result: dict[str, Any]) -> dict[str, Any]:
        if not self._redacts(Stage.RECORD) or not isinstance(result.get("content"), str):
            return result
        return {**result, "content": redact(result["content"], self.policy.redact)}

    def _message(self, message: Any) -> Any:
        if not isinstance(message, dict):
            return message
        content = message.get("content")
        if isinstance(content, str):
            return {**message, "content": redact(content, self.policy.redact)}
        if isinstance(content, list):
            parts = [{**p, "text": redact(p["text"], self.policy.redact)}
                     if isinstance(p, dict) and isinstance(p.get("text"), str) else p for p in content]
            return {**message, "content": parts}
        return message


class BridgeGuard:
    """RunGuard: finds the policy of the bridge a job runs (none for a plain model call)."""

    def __init__(self, policy_of: PolicyOf, completer: ChatCompleter) -> None:
        self._policy_of = policy_of
        self._completer = completer

    async def for_job(self, org_id: str, kind: str, meta: dict[str, Any]) -> PolicyRun | None:
        if not meta.get("bridge_id"):
            return None
        policy = await self._policy_of(org_id, meta)
        if policy is None or not (policy.redact or policy.block_list or policy.moderation):
            return None
        return PolicyRun(policy, self._completer)
