"""AES-GCM for provider credentials, with key rotation.

ENCRYPTION_KEYS is a comma-separated list of base64 32-byte keys: the first encrypts, all
decrypt. Each ciphertext starts with the id of the key that sealed it (the first 8 hex
digits of the key's SHA-256), so reordering or adding keys never breaks old ciphertexts.
The associated data binds a ciphertext to its org and provider: copied onto another org's
record, it fails to decrypt instead of handing that org someone else's key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from config import PLACEHOLDER_SECRETS, SecuritySettings

log = logging.getLogger(__name__)
NONCE_BYTES = 12  # the size AES-GCM is specified for; random nonces are safe to ~2^32 messages


class CryptoError(Exception):
    """A ciphertext that no configured key opens (wrong key, tampered, or another owner)."""


def _development_key(placeholder: str) -> bytes:
    return hashlib.sha256(b"ai-middleware-development:" + placeholder.encode()).digest()


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


class KeyRing:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("ENCRYPTION_KEYS holds no key")
        for key in keys:
            if len(key) != 32:
                raise ValueError("each ENCRYPTION_KEYS entry must be base64 of exactly 32 bytes")
        self._keys = {key_id(k): AESGCM(k) for k in keys}
        self.primary_id = key_id(keys[0])

    @classmethod
    def from_settings(cls, settings: SecuritySettings) -> KeyRing:
        raw = settings.encryption_keys.strip()
        if raw.lower() in PLACEHOLDER_SECRETS:
            # Development only (settings refuse a placeholder in production). Derived, not
            # random, so an API and a worker started side by side agree on the key.
            log.warning("ENCRYPTION_KEYS is a placeholder: credentials use a development key")
            return cls([_development_key(raw)])
        keys: list[bytes] = []
        for part in raw.split(","):
            if part.strip().lower() in PLACEHOLDER_SECRETS:
                # Rotating away from the development key: `NEW,change-me` keeps opening what
                # the development key sealed until reencrypt-credentials has run.
                keys.append(_development_key(part.strip()))
                continue
            try:
                keys.append(base64.b64decode(part.strip(), validate=True))
            except (binascii.Error, ValueError) as exc:
                raise ValueError("ENCRYPTION_KEYS entries must be base64") from exc
        return cls(keys)

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def encrypt(self, plaintext: str, *, aad: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self.primary_id].encrypt(nonce, plaintext.encode(), aad.encode())
        return f"{self.primary_id}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, *, aad: str) -> str:
        kid, _, body = token.partition(":")
        aead = self._keys.get(kid)
        if aead is None:
            raise CryptoError(f"no configured key has id {kid!r}")
        try:
            raw = base64.b64decode(body, validate=True)
            return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad.encode()).decode()
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise CryptoError("ciphertext does not open with its key") from exc


def token_key_id(token: str) -> str:
    return token.partition(":")[0]


def generate_key() -> str:
    """A fresh key for ENCRYPTION_KEYS (base64 of 32 random bytes)."""
    return base64.b64encode(os.urandom(32)).decode()
