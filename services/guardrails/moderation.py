"""The moderation call: the policy's model classifies the prompt through the ChatCompleter
(the one provider path, so retries, breakers, credentials and the simulator all apply).

The model answers JSON `{"flagged": true|false}` (json_schema response format). An answer
that is not that JSON counts as a failed call, so the policy's `on_failure` decides.
"""

from __future__ import annotations

from typing import Any

import orjson

from services.chat.completer import ChatCompleter
from services.chat.schemas import ChatJobPayload
from services.guardrails.model import Moderation
from services.jobs.executor import RunAttempts
from services.providers.types import Message, ResponseFormat

INSTRUCTIONS = ("You are a content moderator. Decide whether the user's text below asks for or contains "
                "content that violates a usual content policy (violence, hate, sexual content involving "
                "minors, self-harm, illegal activity). Answer only the JSON object {\"flagged\": true} or "
                "{\"flagged\": false}.")
VERDICT: dict[str, Any] = {
    "name": "moderation_verdict", "strict": True,
    "schema": {"type": "object", "properties": {"flagged": {"type": "boolean"}}, "required": ["flagged"],
               "additionalProperties": False},
}


class BadVerdict(Exception):
    """The moderation model answered something other than the verdict JSON."""


def request(moderation: Moderation, text: str) -> ChatJobPayload:
    return ChatJobPayload(
        provider=moderation.provider, model=moderation.model, system=INSTRUCTIONS,
        messages=[Message(role="user", content=text)], temperature=0,
        response_format=ResponseFormat(type="json_schema", json_schema=VERDICT),
    )


def classifier(completer: ChatCompleter, moderation: Moderation, *, org_id: str, job_id: str,
               attempts: RunAttempts) -> Any:
    """A `Classify` (services/guardrails/service.py) asking `moderation`'s model."""

    async def classify(text: str) -> bool:
        outcome = await completer.complete(request(moderation, text), org_id=org_id, job_id=job_id,
                                           attempts=attempts)
        try:
            verdict = orjson.loads(outcome.result.get("content") or "")
        except orjson.JSONDecodeError as exc:
            raise BadVerdict("the moderation answer is not JSON") from exc
        if not isinstance(verdict, dict) or not isinstance(verdict.get("flagged"), bool):
            raise BadVerdict("the moderation answer has no boolean `flagged`")
        return bool(verdict["flagged"])

    return classify
