"""Standard Webhooks signing (https://www.standardwebhooks.com/).

Headers: `webhook-id` (the event id, the same on every retry so receivers can dedupe),
`webhook-timestamp` (unix seconds of this attempt) and `webhook-signature`: `v1,` + base64
HMAC-SHA256 of `id.timestamp.body`, one per active secret, space-separated, so during a
rotation overlap a receiver holding either the old or the new secret verifies.
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime

from standardwebhooks import Webhook

from services.webhooks.models import SigningSecret

SECRET_PREFIX = "whsec_"
# 32 random bytes: the full block size of the HMAC-SHA256 key schedule would be 64, but 256
# bits is already beyond brute force (the spec asks for 24 to 64 bytes).
SECRET_BYTES = 32


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature_headers(
    signing_secrets: list[str], msg_id: str, body: str, timestamp: int,
) -> dict[str, str]:
    when = datetime.fromtimestamp(timestamp, tz=UTC)
    signatures = [Webhook(s).sign(msg_id, when, body) for s in signing_secrets]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
    }


def rotate(current: list[SigningSecret], overlap_s: float, now: float) -> list[SigningSecret]:
    """A new secret first; the ones still active keep signing for `overlap_s`, expired drop."""
    kept = []
    for item in current:
        if not item.active(now):
            continue
        ends = now + overlap_s
        expires = ends if item.expires_at is None else min(item.expires_at, ends)
        kept.append(item.model_copy(update={"expires_at": expires}))
    return [SigningSecret(value=generate_secret(), created_at=now), *kept]
