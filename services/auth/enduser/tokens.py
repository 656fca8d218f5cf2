"""Verifies an end user's JWT and turns it into a Principal.

The org's backend signs `{"org": ..., "sub": <end user>, "bridges": [...], "exp": ...}`
with its chatbot secret (HS256) or a private key whose public half it registered (RS256 /
ES256, chosen by the header's `kid`). Refused, as 401: `alg: none` and any algorithm but
those three, a signature no key of the claimed org verifies (another org's secret
included), a missing or past `exp`, an `exp` further than CHATBOT_TOKEN_MAX_TTL_S away,
and a token without `sub` or `bridges`.

Each org's keys are cached per process for CHATBOT_KEY_CACHE_S: a token check costs no I/O.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt

from config import ChatbotSettings
from services.auth.enduser.keys import aad, verification_keys
from services.auth.enduser.store import ChatbotAuthStore
from services.auth.principal import Principal
from services.common.crypto import CryptoError, KeyRing
from services.errors import Unauthorized

ALGORITHMS = ("HS256", "RS256", "ES256")
MAX_USER_CHARS = 256


@dataclass(frozen=True, slots=True)
class _OrgKeys:
    secret: str | None
    public: dict[str, tuple[str, Any]]
    origins: tuple[str, ...]


class TokenVerifier:
    def __init__(self, store: ChatbotAuthStore, keyring: KeyRing, settings: ChatbotSettings) -> None:
        self._store, self._keyring, self._settings = store, keyring, settings
        self._cache: dict[str, tuple[float, _OrgKeys]] = {}

    def forget(self, org_id: str) -> None:
        """Drop an org's cached keys (after a change made in this process)."""
        self._cache.pop(org_id, None)

    async def _keys(self, org_id: str) -> _OrgKeys:
        hit = self._cache.get(org_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        record = await self._store.get(org_id)
        secret = None
        if record is not None and record.secret_sealed:
            try:
                secret = self._keyring.decrypt(record.secret_sealed, aad=aad(org_id))
            except CryptoError:
                secret = None  # sealed under a key no longer configured: nothing verifies
        keys = _OrgKeys(secret, verification_keys(record.public_keys) if record else {},
                        tuple(record.allowed_origins) if record else ())
        self._cache[org_id] = (time.monotonic() + self._settings.key_cache_s, keys)
        return keys

    async def allowed_origins(self, org_id: str) -> tuple[str, ...]:
        return (await self._keys(org_id)).origins

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise Unauthorized("malformed token", code="invalid_token") from exc
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise Unauthorized(f"token algorithm must be one of {', '.join(ALGORITHMS)}", code="invalid_token")
        org_id = unverified.get("org")
        if not isinstance(org_id, str) or not org_id:
            raise Unauthorized("token has no org claim", code="invalid_token")
        claims = self._decode(token, alg, header.get("kid"), await self._keys(org_id))
        return self._principal(org_id, claims)

    def _decode(self, token: str, alg: str, kid: Any, keys: _OrgKeys) -> dict[str, Any]:
        if alg == "HS256":
            candidates = [keys.secret] if keys.secret else []
        else:
            candidates = [key for k, (a, key) in keys.public.items() if a == alg and (kid is None or k == kid)]
        options: Any = {"require": ["exp", "sub"]}
        for key in candidates:
            try:
                claims: dict[str, Any] = jwt.decode(token, key, algorithms=[alg], options=options,
                                                    leeway=self._settings.token_leeway_s)
                return claims
            except jwt.InvalidSignatureError:
                continue
            except jwt.ExpiredSignatureError as exc:
                raise Unauthorized("token expired", code="token_expired") from exc
            except jwt.PyJWTError as exc:
                raise Unauthorized(f"invalid token: {exc}", code="invalid_token") from exc
        raise Unauthorized("token signature does not verify with the org's keys", code="invalid_token")

    def _principal(self, org_id: str, claims: dict[str, Any]) -> Principal:
        exp = float(claims["exp"])
        if exp - time.time() > self._settings.token_max_ttl_s:
            raise Unauthorized("token lives too long: exp must be within "
                               f"{self._settings.token_max_ttl_s} s", code="invalid_token")
        sub, bridges = claims.get("sub"), claims.get("bridges")
        if not isinstance(sub, str) or not sub or len(sub) > MAX_USER_CHARS:
            raise Unauthorized("token sub must be the end user's id", code="invalid_token")
        if not isinstance(bridges, list) or not bridges or not all(isinstance(b, str) for b in bridges):
            raise Unauthorized("token bridges must list the bridges allowed (or '*')", code="invalid_token")
        return Principal(org_id=org_id, end_user=sub, bridges=frozenset(bridges), expires_at=exp)
