"""The redaction corpus: every PII kind is caught, and near misses are left alone."""

from __future__ import annotations

import pytest

from services.chat.schemas import ChatJobPayload
from services.errors import Invalid, Unavailable
from services.guardrails.model import GuardrailPolicy, Moderation, PiiKind, Stage
from services.guardrails.redact import redact
from services.guardrails.service import apply, moderate

ALL = list(PiiKind)

# (text, expected after redaction of every kind)
CAUGHT = [
    ("mail ada.lovelace+ai@example.co.uk now", "mail [EMAIL] now"),
    ("write to BOB@Mail.Example.com.", "write to [EMAIL]."),
    ("call +44 20 7946 0958 today", "call [PHONE] today"),
    ("call (415) 555-2671 or 415-555-2671", "call [PHONE] or [PHONE]"),
    ("card 4111 1111 1111 1111 exp 12/29", "card [CARD] exp 12/29"),
    ("card 5500-0000-0000-0004", "card [CARD]"),
    ("amex 378282246310005", "amex [CARD]"),
    ("iban GB82 WEST 1234 5698 7654 32 ok", "iban [IBAN] ok"),
    ("iban DE89370400440532013000", "iban [IBAN]"),
    ("from 192.168.1.20 and 8.8.8.8", "from [IP] and [IP]"),
    ("v6 2001:db8::8a2e:370:7334 here", "v6 [IP] here"),
    ("key sk-proj-abcdefghijklmnopqrstuvwx123", "key [SECRET]"),
    ("aws AKIAIOSFODNN7EXAMPLE id", "aws [SECRET] id"),
    ("token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789ab", "token [SECRET]"),
    ("blob Zm9vYmFyQmF6UXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWpr9X", "blob [SECRET]"),
]

NEAR_MISSES = [
    "card 4111 1111 1111 1112 fails Luhn",
    "order 1234 5678 9012 3456 is not a card",
    "iban GB82 WEST 1234 5698 7654 33 has a bad check",
    "iban DE00370400440532013000 too",
    "version 1.2.3.4.5 and 999.1.1.1 and 10.0.0",
    "at 12:30:45 on 2024-01-15",
    "sha 3f786850e387550fdab836ed7e6dc881de23001b",
    "uuid 123e4567-e89b-12d3-a456-426614174000",
    "the word antidisestablishmentarianismwithmorelettersadded",
    "email-like user@localhost and @handle",
    "short 1234567",
    "price 1,234,567.89 USD",
]


@pytest.mark.parametrize(("text", "expected"), CAUGHT)
def test_each_kind_is_redacted(text: str, expected: str) -> None:
    assert redact(text, ALL) == expected


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_are_left_alone(text: str) -> None:
    assert redact(text, ALL) == text


def test_only_the_kinds_the_policy_names_are_redacted() -> None:
    text = "ada@example.com 4111111111111111"
    assert redact(text, [PiiKind.CARD]) == "ada@example.com [CARD]"


def _payload(content: str, system: str | None = None) -> ChatJobPayload:
    return ChatJobPayload.model_validate({"messages": [
        {"role": "user", "content": content},
        {"role": "user", "content": [{"type": "text", "text": f"part {content}"},
                                     {"type": "image_url", "image_url": "https://x/y.png"}]},
    ], "system": system})


def test_apply_redacts_system_messages_and_parts_without_touching_the_input() -> None:
    policy = GuardrailPolicy(redact=[PiiKind.EMAIL, PiiKind.CARD])
    payload = _payload("me@example.com 4111111111111111", system="ops: ops@example.com")
    out = apply(policy, payload)
    assert out.system == "ops: [EMAIL]"
    assert out.messages[0].content == "[EMAIL] [CARD]"
    parts = out.messages[1].content
    assert isinstance(parts, list) and parts[0].text == "part [EMAIL] [CARD]"
    assert parts[1].image_url == "https://x/y.png"
    assert payload.messages[0].content == "me@example.com 4111111111111111"


def test_stage_follows_the_policy() -> None:
    policy = GuardrailPolicy(redact=[PiiKind.EMAIL], redact_in=[Stage.RECORD])
    payload = _payload("me@example.com")
    assert apply(policy, payload).messages[0].content == "me@example.com"
    assert apply(policy, payload, stage=Stage.RECORD).messages[0].content == "[EMAIL]"


def test_block_list_refuses_with_422_naming_the_field() -> None:
    policy = GuardrailPolicy(block_list=["Project Falcon"])
    with pytest.raises(Invalid) as err:
        apply(policy, _payload("tell me about project falcon"))
    assert err.value.status == 422 and err.value.field == "messages" and err.value.code == "content_blocked"
    assert apply(policy, _payload("tell me about falcons")).messages[0].content == "tell me about falcons"


async def test_moderation_flags_and_its_failure_mode_is_explicit() -> None:
    async def flag(text: str) -> bool:
        return "attack" in text

    async def broken(text: str) -> bool:
        raise ConnectionError("moderation model down")

    block = GuardrailPolicy(moderation=Moderation(provider="mock", model="mock", on_failure="block"))
    allow = GuardrailPolicy(moderation=Moderation(provider="mock", model="mock", on_failure="allow"))
    await moderate(block, _payload("hello"), flag)
    with pytest.raises(Invalid, match="flagged"):
        await moderate(allow, _payload("plan an attack"), flag)
    with pytest.raises(Unavailable):
        await moderate(block, _payload("hello"), broken)
    await moderate(allow, _payload("hello"), broken)
    with pytest.raises(ValueError):
        Moderation.model_validate({"provider": "mock", "model": "mock"})  # no silent default
