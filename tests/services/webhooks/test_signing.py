"""Signatures follow the Standard Webhooks spec: the reference library verifies them."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from services.webhooks.models import SigningSecret, active_secrets
from services.webhooks.signing import generate_secret, rotate, signature_headers

BODY = '{"id":"msg_1","type":"job.succeeded","data":{}}'


def test_secrets_are_whsec_prefixed_base64_of_32_random_bytes() -> None:
    first, second = generate_secret(), generate_secret()
    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32


def test_the_reference_library_verifies_our_signature() -> None:
    secret = generate_secret()
    headers = signature_headers([secret], "msg_1", BODY, int(time.time()))
    assert headers["webhook-id"] == "msg_1"
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(BODY, headers) == {"id": "msg_1", "type": "job.succeeded",
                                                      "data": {}}
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace("succeeded", "failed"), headers)


def test_during_the_overlap_both_secrets_sign_and_each_verifies() -> None:
    now = time.time()
    old = [SigningSecret(value=generate_secret(), created_at=now - 100)]
    rotated = rotate(old, overlap_s=3600, now=now)
    assert [s.value for s in rotated][1:] == [old[0].value]
    assert rotated[1].expires_at == now + 3600
    signing = active_secrets(rotated, now)
    headers = signature_headers(signing, "msg_2", BODY, int(now))
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (rotated[0].value, old[0].value):
        Webhook(secret).verify(BODY, headers)


def test_after_the_overlap_only_the_new_secret_signs() -> None:
    now = time.time()
    rotated = rotate([SigningSecret(value=generate_secret())], overlap_s=60, now=now)
    later = now + 61
    assert active_secrets(rotated, later) == [rotated[0].value]
    # A second rotation drops secrets that have already expired.
    assert len(rotate(rotated, overlap_s=60, now=later)) == 2
