"""Masks secrets in the before/after summaries: the log must never hold one.

A value is masked when its field name says secret (api_key, secret, token, password,
authorization, headers) or when the value itself looks like one of our or a provider's
keys (aim_, whsec_, sk-, ...). Masked strings keep their last 4 characters, as the
credentials API shows them, so an operator can still tell two keys apart.
"""

from __future__ import annotations

import re
from typing import Any

_SECRET_NAME = re.compile(r"(secret|password|passwd|token|api_?key|^key$|authorization|^headers$|private)", re.I)
_SECRET_VALUE = re.compile(r"^(aim_|whsec_|sk-|sk_|AKIA|ghp_|xox[bp]-|Bearer\s)")
# A summary, not a copy: a 200 KB system prompt is cut to its first 500 characters.
MAX_STRING = 500


def mask_value(value: str) -> str:
    return f"...{value[-4:]}" if len(value) >= 12 else "****"


def mask(data: Any, name: str = "") -> Any:
    """A copy of `data` with every secret-looking value masked."""
    if isinstance(data, dict):
        if _SECRET_NAME.search(name):
            return {k: "****" for k in data}
        return {k: mask(v, str(k)) for k, v in data.items()}
    if isinstance(data, list):
        return [mask(v, name) for v in data]
    if isinstance(data, str) and (_SECRET_NAME.search(name) or _SECRET_VALUE.match(data)):
        return mask_value(data)
    if isinstance(data, str) and len(data) > MAX_STRING:
        return f"{data[:MAX_STRING]}... ({len(data)} characters)"
    return data
