from __future__ import annotations

import base64

import pytest

from config import SecuritySettings
from services.common.crypto import CryptoError, KeyRing, generate_key, key_id
from services.credentials.model import mask


def ring(keys: str) -> KeyRing:
    return KeyRing.from_settings(SecuritySettings(encryption_keys=keys))


def test_round_trip_and_the_ciphertext_names_its_key() -> None:
    keys = ring(generate_key())
    token = keys.encrypt("sk-secret-value", aad="org:openai")
    assert token.startswith(keys.primary_id + ":") and "sk-secret" not in token
    assert keys.decrypt(token, aad="org:openai") == "sk-secret-value"
    # Random nonces: the same secret never gives the same ciphertext twice.
    assert keys.encrypt("sk-secret-value", aad="org:openai") != token


def test_a_ciphertext_moved_to_another_owner_or_tampered_does_not_open() -> None:
    keys = ring(generate_key())
    token = keys.encrypt("sk-secret-value", aad="org_a:openai")
    with pytest.raises(CryptoError):
        keys.decrypt(token, aad="org_b:openai")
    kid, _, body = token.partition(":")
    raw = bytearray(base64.b64decode(body))
    raw[-1] ^= 1
    with pytest.raises(CryptoError):
        keys.decrypt(f"{kid}:{base64.b64encode(bytes(raw)).decode()}", aad="org_a:openai")


def test_rotation_first_key_encrypts_every_key_decrypts() -> None:
    old, new = generate_key(), generate_key()
    before = ring(old).encrypt("s3cret-value", aad="x")
    both = ring(f"{new}, {old}")
    assert both.primary_id == key_id(base64.b64decode(new))
    assert both.decrypt(before, aad="x") == "s3cret-value"
    assert both.encrypt("s3cret-value", aad="x").startswith(both.primary_id)
    with pytest.raises(CryptoError):
        ring(new).decrypt(before, aad="x")


def test_bad_keys_are_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match="base64"):
        ring("not base64!!")
    with pytest.raises(ValueError, match="32 bytes"):
        ring(base64.b64encode(b"short").decode())


def test_the_development_placeholder_gives_one_key_every_process_shares() -> None:
    a, b = ring("change-me"), ring("change-me")
    assert b.decrypt(a.encrypt("v", aad="x"), aad="x") == "v"


@pytest.mark.parametrize(("secret", "shown"), [
    ("sk-proj-abcdefghijklmnop1234", "sk-...1234"),
    ("short-key", "...ey"),
    ("abc", "..."),
])
def test_mask_shows_no_more_than_a_hint(secret: str, shown: str) -> None:
    assert mask(secret) == shown


def test_rotating_away_from_the_development_key_as_the_readme_says() -> None:
    sealed = ring("change-me").encrypt("sk-made-in-development", aad="org:openai")
    new = generate_key()
    # README: put the new key first (the old one stays to decrypt), re-encrypt, drop the old.
    both = ring(f"{new},change-me")
    assert both.decrypt(sealed, aad="org:openai") == "sk-made-in-development"
    resealed = both.encrypt(both.decrypt(sealed, aad="org:openai"), aad="org:openai")
    assert ring(new).decrypt(resealed, aad="org:openai") == "sk-made-in-development"
