"""The IETF RateLimit and RateLimit-Policy fields (draft-ietf-httpapi-ratelimit-headers-10).

Both are Structured Field lists of quoted policy names with parameters:
`RateLimit-Policy: "key-rpm";q=60;w=60, "key-tpm";q=10000;w=60;qu="tokens"` and
`RateLimit: "key-rpm";r=59;t=1`, where q is the quota, w the window (s), qu the unit
(the draft registers "requests"; "tokens" is ours), r what remains and t seconds until
the quota is whole again.
"""

from __future__ import annotations

import math

from services.limits.model import RateCheck, RateState


def _policy(check: RateCheck) -> str:
    unit = "" if check.unit == "requests" else f';qu="{check.unit}"'
    return f'"{check.name}";q={check.limit};w={math.ceil(check.window_s)}{unit}'


def policy_header(checks: list[RateCheck]) -> str:
    return ", ".join(_policy(c) for c in checks)


def allowed_headers(states: list[RateState]) -> dict[str, str]:
    """Headers of an admitted request: every policy and what is left of each."""
    if not states:
        return {}
    return {
        "RateLimit-Policy": policy_header([s.check for s in states]),
        "RateLimit": ", ".join(f'"{s.check.name}";r={s.remaining};t={math.ceil(s.reset_s)}' for s in states),
    }


def refused_headers(checks: list[RateCheck], refused_by: str, wait_s: float) -> dict[str, str]:
    """Headers of a 429: the policies, the one that refused at zero, and Retry-After."""
    wait = max(1, math.ceil(wait_s))
    return {
        "Retry-After": str(wait),
        "RateLimit-Policy": policy_header(checks),
        "RateLimit": f'"{refused_by}";r=0;t={wait}',
    }
