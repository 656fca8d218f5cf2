"""Provider capacity: how many requests and tokens per window each (provider, credential,
model) may use, learnt from the providers' rate-limit headers and from configured limits,
shared by every process through the CapacityStore.

A job reserves its slot before it starts (`reserve`): GCRA with a burst of one spaces
requests `window / limit` apart, so the provider sees at most `limit` in any window plus
the one request that may start at once. A job whose slot is in the future goes back to
RabbitMQ for that long (it never holds a worker) and runs on its return. Every provider
answer passes through `observe` (an httpx response hook): its headers update the learnt
limits; a 429 blocks the bucket until the provider's retry-after and, when it states no
limit, lowers the learnt request limit by `throttle_factor`.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from config import SchedulingSettings
from services.scheduling.headers import observe
from services.scheduling.store import CapacityStore, Learnt, Limits

log = logging.getLogger(__name__)
# The org's credential for a provider (the chat runtime's resolver), None for none.
CredentialLookup = Callable[[str, str], Awaitable[str | None]]
# Providers that never rate-limit us: skipped unless a limit is configured.
UNLIMITED = frozenset({"mock"})
# Tokens assumed for an answer when the request sets no max_tokens.
DEFAULT_OUTPUT_TOKENS = 256


def credential_digest(api_key: str | None) -> str:
    if not api_key:
        return "none"
    return hashlib.blake2b(api_key.encode(), digest_size=8).hexdigest()


def estimate_tokens(request: dict[str, Any]) -> float:
    """Prompt (~4 characters a token) plus the answer's cap: what providers count against TPM."""
    chars = len(str(request.get("system") or ""))
    for message in request.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        chars += len(content) if isinstance(content, str) else len(orjson.dumps(content))
    return chars / 4 + float(request.get("max_tokens") or DEFAULT_OUTPUT_TOKENS)


class Capacity:
    def __init__(self, store: CapacityStore, settings: SchedulingSettings,
                 credentials: CredentialLookup | None = None) -> None:
        self.store = store
        self.settings = settings
        self._credentials = credentials

    def configured(self, provider: str, model: str) -> Limits:
        found = self.settings.limits.get(f"{provider}/{model}") or self.settings.limits.get(f"{provider}/*")
        if not found:
            return Limits()
        return Limits(float(found.get("rpm", 0)), float(found.get("tpm", 0)))

    async def reserve(self, org_id: str, request: dict[str, Any], *, max_wait_s: float) -> float | None:
        """Reserve the job's provider call; the wait before it may start (None: longer than
        `max_wait_s`, nothing reserved). Jobs without a provider and model wait for nothing."""
        provider, model = request.get("provider"), request.get("model")
        if not self.settings.capacity or not isinstance(provider, str) or not isinstance(model, str):
            return 0.0
        configured = self.configured(provider, model)
        if provider in UNLIMITED and not (configured.requests or configured.tokens):
            return 0.0
        api_key = await self._credentials(org_id, provider) if self._credentials else None
        return await self.store.reserve(
            f"{provider}:{credential_digest(api_key)}:{model}", configured,
            tokens=estimate_tokens(request), now=time.time(), window_s=self.settings.window_s,
            headroom=self.settings.headroom, max_wait_s=max_wait_s)

    async def observe(self, provider: str, response: Any) -> None:
        """The providers' response hook: learn from rate-limit headers; a 429 throttles."""
        try:
            await self._observe(provider, response)
        except Exception as exc:  # never break a provider call over bookkeeping
            log.warning("could not learn provider capacity: %s", type(exc).__name__)

    async def _observe(self, provider: str, response: Any) -> None:
        status = response.status_code
        now = time.time()
        seen = observe(response.headers, now)
        if seen.empty and status != 429:
            return
        request = response.request
        headers = request.headers
        auth = headers.get("authorization", "")
        api_key = auth[7:] if auth.lower().startswith("bearer ") else headers.get("x-api-key")
        try:
            model = orjson.loads(request.content).get("model")
        except (orjson.JSONDecodeError, AttributeError, TypeError):
            return
        if not isinstance(model, str):
            return
        # A 429 that states the limit teaches that limit and blocks until its retry-after; it
        # lowers the limit (throttle) only when it states none. Throttling a stated limit hurt:
        # the backlog behind a first burst reserved its slots at the throttled 80% and kept
        # them after the next answer restored the limit (shaping efficiency 0.70-0.77).
        throttle = self.settings.throttle_factor if status == 429 and seen.limit_requests is None else None
        learnt = Learnt(limit_requests=seen.limit_requests, limit_tokens=seen.limit_tokens,
                        blocked_until=now + seen.blocked_for_s(), throttle=throttle)
        if status == 429:
            log.info("provider rate-limited us; capacity lowered",
                     extra={"provider": provider, "model": model, "retry_after_s": seen.retry_after_s})
        await self.store.learn(f"{provider}:{credential_digest(api_key)}:{model}", learnt,
                               self.configured(provider, model))
