"""Replaces each PII match with a placeholder naming its kind ("[EMAIL]", "[CARD]", ...)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

from services.guardrails.detectors import DETECTORS
from services.guardrails.model import PiiKind


def placeholder(kind: PiiKind) -> str:
    return f"[{kind.value.upper()}]"


def redact(text: str, kinds: list[PiiKind], found: Counter[str] | None = None) -> str:
    """`text` with every valid match of `kinds` replaced; counts go to `found`."""
    for kind in DETECTORS:
        if kind not in kinds:
            continue
        for pattern, valid in DETECTORS[kind]:
            text = pattern.sub(_swapper(kind, valid, found), text)
    return text


def _swapper(kind: PiiKind, valid: Callable[[str], bool], found: Counter[str] | None) -> Callable[[re.Match[str]], str]:
    def swap(m: re.Match[str]) -> str:
        if not valid(m.group(0)):
            return m.group(0)
        if found is not None:
            found[kind.value] += 1
        return placeholder(kind)

    return swap
