"""End-user JWTs: what verifies and, above all, what is refused."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import jwt
import orjson
import pytest

from config import ChatbotSettings
from services.auth.enduser.memory_store import MemoryChatbotAuthStore
from services.auth.enduser.model import PublicKey
from services.auth.enduser.service import ChatbotAuthService
from services.auth.enduser.tokens import TokenVerifier
from services.errors import Conflict, Invalid, NotFound, Unauthorized
from tests.services.auth.keys_support import claims, ec_pair, keyring, rsa_pair, token


@dataclass
class Auth:
    service: ChatbotAuthService
    verifier: TokenVerifier
    secret_a: str
    secret_b: str


@pytest.fixture
async def auth() -> AsyncIterator[Auth]:
    store, ring = MemoryChatbotAuthStore(), keyring()
    verifier = TokenVerifier(store, ring, ChatbotSettings(token_max_ttl_s=3600, token_leeway_s=0))
    service = ChatbotAuthService(store, ring, on_change=verifier.forget)
    secret_a, _ = await service.rotate_secret("org_a")
    secret_b, _ = await service.rotate_secret("org_b")
    yield Auth(service, verifier, secret_a, secret_b)


async def test_an_hs256_token_becomes_an_end_user_principal(auth: Auth) -> None:
    principal = await auth.verifier.verify(token(auth.secret_a, "org_a", sub="ada", bridges=["support"]))
    assert (principal.org_id, principal.end_user) == ("org_a", "ada")
    assert principal.allows("br_x", "support") and not principal.allows("br_x", "sales")
    assert principal.expires_at is not None and principal.expires_at > time.time()


@pytest.mark.parametrize("case", ["none", "wrong_key", "other_orgs_secret", "expired", "no_exp", "too_long",
                                  "no_sub", "no_bridges", "garbage", "hs512", "no_org"])
async def test_bad_tokens_are_refused(auth: Auth, case: str) -> None:
    bad = {
        "wrong_key": lambda: token("cbs_not-the-secret-0123456789abcdef", "org_a"),
        "other_orgs_secret": lambda: token(auth.secret_b, "org_a"),
        "expired": lambda: token(auth.secret_a, "org_a", ttl=-5),
        "no_exp": lambda: jwt.encode({"org": "org_a", "sub": "u", "bridges": ["*"]}, auth.secret_a, "HS256"),
        "too_long": lambda: token(auth.secret_a, "org_a", ttl=7200),
        "no_sub": lambda: jwt.encode({k: v for k, v in claims("org_a").items() if k != "sub"}, auth.secret_a, "HS256"),
        "no_bridges": lambda: token(auth.secret_a, "org_a", bridges=[]),
        "garbage": lambda: "not.a.jwt",
        "hs512": lambda: jwt.encode(claims("org_a"), auth.secret_a * 2, "HS512"),
        "no_org": lambda: jwt.encode({k: v for k, v in claims("org_a").items() if k != "org"}, auth.secret_a, "HS256"),
        "none": lambda: _unsigned(claims("org_a")),
    }[case]()
    with pytest.raises(Unauthorized):
        await auth.verifier.verify(bad)


def _unsigned(body: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(body)}."


async def test_rotation_and_deletion_stop_the_old_secret(auth: Auth) -> None:
    old = token(auth.secret_a, "org_a")
    await auth.verifier.verify(old)
    new_secret, _ = await auth.service.rotate_secret("org_a")
    with pytest.raises(Unauthorized):
        await auth.verifier.verify(old)
    await auth.verifier.verify(token(new_secret, "org_a"))
    await auth.service.delete_secret("org_a")
    with pytest.raises(Unauthorized):
        await auth.verifier.verify(token(new_secret, "org_a"))
    with pytest.raises(NotFound):
        await auth.service.delete_secret("org_a")


async def test_registered_rs256_and_es256_public_keys_verify_by_kid(auth: Auth) -> None:
    rsa_private, rsa_pem = rsa_pair()
    ec_private, ec_pem = ec_pair()
    await auth.service.add_public_key("org_a", PublicKey(kid="rsa-1", alg="RS256", pem=rsa_pem))
    await auth.service.add_public_key("org_a", PublicKey(kid="ec-1", alg="ES256", pem=ec_pem))
    assert (await auth.verifier.verify(token(rsa_private, "org_a", alg="RS256", kid="rsa-1"))).org_id == "org_a"
    assert (await auth.verifier.verify(token(ec_private, "org_a", alg="ES256"))).end_user == "user-1"
    other_private, _ = rsa_pair()
    with pytest.raises(Unauthorized):
        await auth.verifier.verify(token(other_private, "org_a", alg="RS256", kid="rsa-1"))
    with pytest.raises(Unauthorized):  # org_b registered no key
        await auth.verifier.verify(token(rsa_private, "org_b", alg="RS256", kid="rsa-1"))
    # Algorithm confusion: the RSA public key used as an HMAC secret must not verify.
    with pytest.raises(Unauthorized):
        await auth.verifier.verify(_hmac_with(rsa_pem, claims("org_a")))
    await auth.service.delete_public_key("org_a", "rsa-1")
    with pytest.raises(Unauthorized):
        await auth.verifier.verify(token(rsa_private, "org_a", alg="RS256", kid="rsa-1"))


def _hmac_with(secret: str, body: dict[str, object]) -> str:
    import hashlib
    import hmac

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing = f"{b64(orjson.dumps({'alg': 'HS256', 'typ': 'JWT'}))}.{b64(orjson.dumps(body))}"
    return f"{signing}.{b64(hmac.new(secret.encode(), signing.encode(), hashlib.sha256).digest())}"


async def test_bad_public_keys_and_origins_are_refused_naming_the_field(auth: Auth) -> None:
    _, rsa_pem = rsa_pair()
    with pytest.raises(Invalid) as bad_pem:
        await auth.service.add_public_key("org_a", PublicKey(kid="k", alg="RS256", pem="-----BEGIN nonsense"))
    assert bad_pem.value.field == "pem"
    _, ec_pem = ec_pair()
    with pytest.raises(Invalid):
        await auth.service.add_public_key("org_a", PublicKey(kid="k", alg="RS256", pem=ec_pem))
    await auth.service.add_public_key("org_a", PublicKey(kid="k", alg="RS256", pem=rsa_pem))
    with pytest.raises(Conflict):
        await auth.service.add_public_key("org_a", PublicKey(kid="k", alg="RS256", pem=rsa_pem))
    with pytest.raises(Invalid) as bad_origin:
        await auth.service.set_origins("org_a", ["https://ok.example.com", "https://x.example.com/path"])
    assert bad_origin.value.field == "origins.1"
    record = await auth.service.set_origins("org_a", ["https://Shop.Example.com", "http://localhost:3000"])
    assert record.allowed_origins == ["http://localhost:3000", "https://shop.example.com"]
    assert await auth.verifier.allowed_origins("org_a") == ("http://localhost:3000", "https://shop.example.com")
