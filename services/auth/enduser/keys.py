"""Turning stored records into verification keys (and checking keys an org registers)."""

from __future__ import annotations

from typing import Any

import jwt

from services.auth.enduser.model import PublicKey
from services.errors import Invalid

SECRET_PREFIX = "cbs_"


def aad(org_id: str) -> str:
    """Binds a sealed secret to its org: copied onto another org's record, it won't open."""
    return f"chatbot-secret:{org_id}"


def load_public_key(alg: str, pem: str) -> Any:
    """The key object for `alg`; Invalid naming `pem` when it is not a public key of that kind."""
    if "PRIVATE KEY" in pem:
        raise Invalid("this is a private key: register the public half only", field="pem")
    try:
        return jwt.get_algorithm_by_name(alg).prepare_key(pem)
    except (jwt.InvalidKeyError, ValueError, TypeError) as exc:
        kind = "an RSA" if alg == "RS256" else "a P-256 EC"
        raise Invalid(f"pem is not {kind} public key in PEM format", field="pem") from exc


def verification_keys(keys: list[PublicKey]) -> dict[str, tuple[str, Any]]:
    """kid -> (alg, key object) for every registered key that still loads."""
    out: dict[str, tuple[str, Any]] = {}
    for key in keys:
        try:
            out[key.kid] = (key.alg, load_public_key(key.alg, key.pem))
        except Invalid:
            continue
    return out
