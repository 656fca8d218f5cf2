"""Finds PII in text. Candidates come from regular expressions; numbers that carry a
checksum must pass it (Luhn for cards, ISO 13616 mod-97 for IBANs), so an order number
that looks like a card is left alone."""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable

from services.guardrails.model import PiiKind

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?(?:\(?\d{1,4}\)?[ .-]?){1,4}\d{2,4}"
                    r"|\(\d{3}\) ?\d{3}[ .-]\d{4}|\b\d{3}[ .-]\d{3}[ .-]\d{4})(?![\w])")
_KNOWN_SECRET = re.compile(
    r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}|AKIA[0-9A-Z]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{36,}|xox[baprs]-[A-Za-z0-9-]{10,}|aim_[0-9a-f]{8}_[A-Za-z0-9_-]{20,}"
    r"|whsec_[A-Za-z0-9+/=]{16,})")
_TOKEN = re.compile(r"(?<![\w+/=-])[A-Za-z0-9+/_=-]{32,}(?![\w+/=-])")
# Bits per character above which a long token is taken for a key: random base64 scores
# ~5.5-6, English words and hex digests (at most 4.0 by construction) stay below.
ENTROPY_BITS = 4.5


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    compact = candidate.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _card(m: str) -> bool:
    digits = re.sub(r"\D", "", m)
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


def _ip(m: str) -> bool:
    try:
        ipaddress.ip_address(m)
    except ValueError:
        return False
    return True


def _phone(m: str) -> bool:
    return 8 <= len(re.sub(r"\D", "", m)) <= 15


def _token(m: str) -> bool:
    has_mix = any(c.isdigit() for c in m) and any(c.isalpha() for c in m)
    return has_mix and _entropy(m) >= ENTROPY_BITS


Detector = tuple[re.Pattern[str], Callable[[str], bool]]
_ANY: Callable[[str], bool] = lambda _m: True  # noqa: E731
# Order matters: a span replaced by one kind's placeholder is not seen by the next.
DETECTORS: dict[PiiKind, list[Detector]] = {
    PiiKind.SECRET: [(_KNOWN_SECRET, _ANY), (_TOKEN, _token)],
    PiiKind.EMAIL: [(_EMAIL, _ANY)],
    PiiKind.IBAN: [(_IBAN, iban_ok)],
    PiiKind.CARD: [(_CARD, _card)],
    PiiKind.IP: [(_IPV4, _ip), (_IPV6, _ip)],
    PiiKind.PHONE: [(_PHONE, _phone)],
}
