"""Key material and token makers for the end-user auth tests."""

from __future__ import annotations

import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from config import SecuritySettings
from services.common.crypto import KeyRing, generate_key


def keyring() -> KeyRing:
    return KeyRing.from_settings(SecuritySettings(encryption_keys=generate_key()))


def rsa_pair() -> tuple[Any, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return private, _pem(private.public_key())


def ec_pair() -> tuple[Any, str]:
    private = ec.generate_private_key(ec.SECP256R1())
    return private, _pem(private.public_key())


def _pem(public: Any) -> str:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def claims(
    org: str, sub: str = "user-1", bridges: list[str] | None = None, ttl: float = 300, **extra: Any,
) -> dict[str, Any]:
    allowed = ["*"] if bridges is None else bridges
    return {"org": org, "sub": sub, "bridges": allowed, "exp": int(time.time() + ttl), **extra}


def token(key: Any, org: str, *, alg: str = "HS256", kid: str | None = None, **kw: Any) -> str:
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims(org, **kw), key, algorithm=alg, headers=headers)
