"""Webhook store on Redis.

Keys (under the configured prefix, e.g. `aim:`):
- `wh:ep:{org}` hash endpoint id -> JSON, and `wh:secret:{org}` JSON list: kept.
- `wh:evt:{id}`, `wh:dlv:{id}` JSON and `wh:att:{id}` list of JSON attempts: expire with
  job retention, refreshed on every write.
- `wh:org:{org}:dlv` and `wh:job:{job}:dlv`: sorted sets with every score 0, so members sort
  by id, and delivery ids sort by time: pages are exact ZREVRANGEBYLEX ranges. The org index
  is trimmed to the retention window on each insert.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.errors import Unavailable
from services.webhooks.models import (
    Attempt,
    Delivery,
    DeliveryStatus,
    Endpoint,
    Event,
    SigningSecret,
)
from services.webhooks.store import DeliveryPage

# Records fetched per MGET while filtering a page; bounds one request's work to 20 round
# trips at most (SCAN_MAX) when a status filter matches little.
SCAN_CHUNK = 200
SCAN_MAX = 4000


@contextlib.contextmanager
def _unavailable() -> Iterator[None]:
    try:
        yield
    except RedisError as exc:
        raise Unavailable("webhook store unreachable") from exc


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


class RedisWebhookStore:
    def __init__(self, redis: Redis, *, key_prefix: str, retention_s: int) -> None:
        self._r = redis
        self._p = key_prefix + "wh:"
        self._ttl = retention_s

    def _ep(self, org_id: str) -> str:
        return f"{self._p}ep:{org_id}"

    def _dlv(self, delivery_id: str) -> str:
        return f"{self._p}dlv:{delivery_id}"

    def _att(self, delivery_id: str) -> str:
        return f"{self._p}att:{delivery_id}"

    def _org_index(self, org_id: str) -> str:
        return f"{self._p}org:{org_id}:dlv"

    def _job_index(self, job_id: str) -> str:
        return f"{self._p}job:{job_id}:dlv"

    async def put_endpoint(self, endpoint: Endpoint) -> None:
        with _unavailable():
            await self._r.hset(self._ep(endpoint.org_id), endpoint.id, endpoint.model_dump_json())

    async def get_endpoint(self, org_id: str, endpoint_id: str) -> Endpoint | None:
        with _unavailable():
            raw = await self._r.hget(self._ep(org_id), endpoint_id)
        return Endpoint.model_validate_json(raw) if raw else None

    async def list_endpoints(self, org_id: str) -> list[Endpoint]:
        with _unavailable():
            raw = await self._r.hvals(self._ep(org_id))
        items = [Endpoint.model_validate_json(v) for v in raw]
        return sorted(items, key=lambda e: (e.created_at, e.id))

    async def delete_endpoint(self, org_id: str, endpoint_id: str) -> bool:
        with _unavailable():
            return bool(await self._r.hdel(self._ep(org_id), endpoint_id))

    async def org_secrets(self, org_id: str, initial: list[SigningSecret]) -> list[SigningSecret]:
        key = f"{self._p}secret:{org_id}"
        encoded = orjson.dumps([s.model_dump() for s in initial])
        with _unavailable():
            raw = await self._r.get(key)
            if raw is None:
                # SET NX then GET: whichever process came first, everyone signs with its secret.
                await self._r.set(key, encoded, nx=True)
                raw = await self._r.get(key)
        return [SigningSecret.model_validate(s) for s in orjson.loads(raw or encoded)]

    async def put_org_secrets(self, org_id: str, items: list[SigningSecret]) -> None:
        with _unavailable():
            await self._r.set(f"{self._p}secret:{org_id}",
                              orjson.dumps([s.model_dump() for s in items]))

    async def get_event(self, event_id: str) -> Event | None:
        with _unavailable():
            raw = await self._r.get(f"{self._p}evt:{event_id}")
        return Event.model_validate_json(raw) if raw else None

    async def record(
        self, event: Event, deliveries: list[Delivery],
    ) -> list[tuple[Delivery, bool]]:
        cutoff = f"(dlv_{int((time.time() - self._ttl) * 1_000_000):014x}"
        org_index = self._org_index(event.org_id)
        with _unavailable():
            async with self._r.pipeline(transaction=False) as pipe:
                pipe.set(f"{self._p}evt:{event.id}", event.model_dump_json(), nx=True,
                         ex=self._ttl)
                for d in deliveries:
                    pipe.set(self._dlv(d.id), d.model_dump_json(), nx=True, ex=self._ttl)
                # Index entries are idempotent, so they are written whether or not the
                # record was new.
                if deliveries:
                    pipe.zadd(org_index, {d.id: 0 for d in deliveries})
                    pipe.zremrangebylex(org_index, "-", cutoff)
                    pipe.expire(org_index, self._ttl)
                    if event.job_id:
                        pipe.zadd(self._job_index(event.job_id), {d.id: 0 for d in deliveries})
                        pipe.expire(self._job_index(event.job_id), self._ttl)
                created = (await pipe.execute())[1:1 + len(deliveries)]
            out = []
            for d, new in zip(deliveries, created, strict=True):
                stored = None if new else await self.get_delivery(d.id)
                out.append((stored, False) if stored else (d, True))
        return out

    async def load(self, delivery_id: str, event_id: str) -> tuple[Delivery | None, Event | None]:
        with _unavailable():
            raw_d, raw_e = await self._r.mget([self._dlv(delivery_id), f"{self._p}evt:{event_id}"])
        return (Delivery.model_validate_json(raw_d) if raw_d else None,
                Event.model_validate_json(raw_e) if raw_e else None)

    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        with _unavailable():
            raw = await self._r.get(self._dlv(delivery_id))
        return Delivery.model_validate_json(raw) if raw else None

    async def save_delivery(self, delivery: Delivery) -> None:
        with _unavailable():
            await self._r.set(self._dlv(delivery.id), delivery.model_dump_json(), ex=self._ttl)

    async def add_attempt(self, delivery: Delivery, attempt: Attempt) -> None:
        with _unavailable():
            # One round trip, no MULTI: readers may briefly see the attempt before the record
            # that counts it, which the API tolerates, and it saves a fifth of the call.
            async with self._r.pipeline(transaction=False) as pipe:
                pipe.rpush(self._att(delivery.id), attempt.model_dump_json())
                pipe.expire(self._att(delivery.id), self._ttl)
                pipe.set(self._dlv(delivery.id), delivery.model_dump_json(), ex=self._ttl)
                await pipe.execute()

    async def list_attempts(self, delivery_id: str) -> list[Attempt]:
        with _unavailable():
            raw = await self._r.lrange(self._att(delivery_id), 0, -1)
        return [Attempt.model_validate_json(v) for v in raw]

    async def list_deliveries(
        self, org_id: str, *, job_id: str | None = None, status: DeliveryStatus | None = None,
        limit: int = 50, cursor: str | None = None,
    ) -> DeliveryPage:
        index = self._job_index(job_id) if job_id else self._org_index(org_id)
        upper = f"({cursor}" if cursor else "+"
        out: list[Delivery] = []
        scanned = 0
        while scanned < SCAN_MAX:
            with _unavailable():
                ids = [_text(i) for i in await self._r.zrevrangebylex(
                    index, upper, "-", start=0, num=SCAN_CHUNK)]
                if not ids:
                    return DeliveryPage(out, None)
                raws = await self._r.mget([self._dlv(i) for i in ids])
            scanned += len(ids)
            for raw in raws:
                if not raw:
                    continue
                d = Delivery.model_validate_json(raw)
                if d.org_id != org_id or (status and d.status != status):
                    continue
                if len(out) == limit:
                    return DeliveryPage(out, out[-1].id)
                out.append(d)
            upper = f"({ids[-1]}"
            if len(ids) < SCAN_CHUNK:
                return DeliveryPage(out, None)
        # Scan budget spent: hand back a cursor so the caller can continue from here.
        return DeliveryPage(out, upper[1:])

    async def close(self) -> None:
        return None
