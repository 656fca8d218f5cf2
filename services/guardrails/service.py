"""Applies a bridge's guardrail policy to a chat payload (the job lifecycle calls these
through services/guardrails/run.py, for every path).

    payload = apply(policy, payload)                       # what the provider is sent
    stored = apply(policy, payload, stage=Stage.RECORD)    # what the job record keeps
    await moderate(policy, payload, classify)              # optional model check

Pure: no I/O except the moderation callable the caller passes in. The block list is
checked first, on the text as the caller sent it, and refuses with 422 naming no match
(the match is the caller's own content; echoing it would teach evasion).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TypeVar

from services.chat.schemas import ChatJobPayload
from services.errors import Invalid, Unavailable
from services.guardrails.model import GuardrailPolicy, PiiKind, Stage
from services.guardrails.redact import redact
from services.providers.types import Message

log = logging.getLogger(__name__)
Classify = Callable[[str], Awaitable[bool]]


def texts(payload: ChatJobPayload) -> list[str]:
    """Every piece of text in the prompt: system, then each message's content."""
    out = [payload.system] if payload.system else []
    for message in payload.messages:
        if isinstance(message.content, str):
            out.append(message.content)
        elif message.content:
            out += [part.text for part in message.content if part.text]
    return out


def check_block_list(policy: GuardrailPolicy, payload: ChatJobPayload) -> None:
    phrases = [p.casefold() for p in policy.block_list if p.strip()]
    if not phrases:
        return
    for text in texts(payload):
        folded = text.casefold()
        if any(p in folded for p in phrases):
            raise Invalid("the request contains content this bridge does not accept", field="messages",
                          code="content_blocked")


def redact_message(message: Message, kinds: list[PiiKind], found: Counter[str] | None = None) -> Message:
    """`message` with the PII of `kinds` redacted from its text (and text parts)."""
    if isinstance(message.content, str):
        return message.model_copy(update={"content": redact(message.content, kinds, found)})
    if not message.content:
        return message
    parts = [p.model_copy(update={"text": redact(p.text, kinds, found)}) if p.text else p
             for p in message.content]
    return message.model_copy(update={"content": parts})


P = TypeVar("P", bound=ChatJobPayload)


def apply(policy: GuardrailPolicy | None, payload: P, *, stage: Stage = Stage.PROVIDER) -> P:
    """The payload as `stage` may see it: 422 on a block-listed phrase, PII redacted when
    the policy redacts at that stage. The input is never modified."""
    if policy is None:
        return payload
    check_block_list(policy, payload)
    if not policy.redact or stage not in policy.redact_in:
        return payload
    found: Counter[str] = Counter()
    out = payload.model_copy(update={
        "system": redact(payload.system, policy.redact, found) if payload.system else payload.system,
        "messages": [redact_message(m, policy.redact, found) for m in payload.messages],
    })
    if found:
        log.info("pii redacted", extra={"stage": stage.value, "counts": dict(found)})
    return out


async def moderate(policy: GuardrailPolicy | None, payload: ChatJobPayload, classify: Classify) -> None:
    """Ask the policy's moderation model (`classify` returns True when flagged): 422 when
    flagged; when the call fails, the policy's `on_failure` decides, never a silent pass."""
    if policy is None or policy.moderation is None:
        return
    try:
        flagged = await classify("\n\n".join(texts(payload)))
    except Exception as exc:
        if policy.moderation.on_failure == "block":
            raise Unavailable("content moderation is unavailable and this bridge blocks without it",
                              code="moderation_unavailable", retry_after_s=5) from exc
        log.warning("moderation failed; allowed by policy", extra={"error": type(exc).__name__})
        return
    if flagged:
        raise Invalid("the request was flagged by content moderation", field="messages", code="content_flagged")
