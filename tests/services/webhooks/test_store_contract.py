"""One contract for both webhook stores: in memory (embedded) and Redis (production)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from services.webhooks.memory_store import MemoryWebhookStore
from services.webhooks.models import (
    Attempt,
    Delivery,
    DeliveryStatus,
    Endpoint,
    Event,
    SigningSecret,
    delivery_id,
)
from services.webhooks.store import WebhookStore
from tests.conftest import require_env

RETENTION_S = 600


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, unique: str) -> AsyncIterator[WebhookStore]:
    if request.param == "memory":
        yield MemoryWebhookStore(RETENTION_S)
        return
    from redis.asyncio import Redis

    from services.webhooks.redis_store import RedisWebhookStore

    client = Redis.from_url(require_env("REDIS_URI"))
    prefix = f"t{unique}:"
    try:
        yield RedisWebhookStore(client, key_prefix=prefix, retention_s=RETENTION_S)
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=500)]
        if keys:
            await client.delete(*keys)
        await client.aclose()  # type: ignore[attr-defined]  # types-redis predates aclose


def _event(org: str = "org-a", job: str | None = "job_1", at: float | None = None) -> Event:
    at = at or time.time()
    return Event(id=f"msg_{at}", org_id=org, type="job.succeeded", created_at=at, job_id=job,
                 body="{}")


def _delivery(event: Event, key: str = "ep:1") -> Delivery:
    return Delivery(id=delivery_id(event, key), org_id=event.org_id, event_id=event.id,
                    event_type=event.type, job_id=event.job_id, url="https://x.example/h",
                    headers={"authorization": "Bearer receiver-token"})


async def test_endpoints_are_scoped_to_their_org(store: WebhookStore) -> None:
    first = Endpoint(org_id="org-a", url="https://a.example/1", created_at=1.0,
                     secrets=[SigningSecret(value="whsec_AAAA")])
    second = Endpoint(org_id="org-a", url="https://a.example/2", created_at=2.0)
    await store.put_endpoint(second)
    await store.put_endpoint(first)
    assert [e.id for e in await store.list_endpoints("org-a")] == [first.id, second.id]
    assert await store.get_endpoint("org-b", first.id) is None
    assert await store.list_endpoints("org-b") == []
    assert await store.delete_endpoint("org-b", first.id) is False
    got = await store.get_endpoint("org-a", first.id)
    assert got is not None and got.secrets[0].value == "whsec_AAAA"
    got.enabled = False
    await store.put_endpoint(got)
    again = await store.get_endpoint("org-a", first.id)
    assert again is not None and again.enabled is False
    assert await store.delete_endpoint("org-a", first.id) is True
    assert await store.get_endpoint("org-a", first.id) is None


async def test_the_org_secret_is_created_once_even_under_a_race(store: WebhookStore) -> None:
    candidates = [[SigningSecret(value=f"whsec_{i}")] for i in range(5)]
    results = await asyncio.gather(*(store.org_secrets("org-a", c) for c in candidates))
    assert len({r[0].value for r in results}) == 1
    rotated = [SigningSecret(value="whsec_new"), results[0][0]]
    await store.put_org_secrets("org-a", rotated)
    assert [s.value for s in await store.org_secrets("org-a", candidates[0])] == [
        "whsec_new", results[0][0].value]
    assert (await store.org_secrets("org-b", candidates[1]))[0].value == "whsec_1"


async def _one(store: WebhookStore, delivery: Delivery, event: Event | None = None) -> Delivery:
    event = event or _event(org=delivery.org_id, job=delivery.job_id)
    ((stored, _),) = await store.record(event, [delivery])
    return stored


async def test_events_and_deliveries_are_created_once(store: WebhookStore) -> None:
    event = _event()
    first, second = _delivery(event, "ep:1"), _delivery(event, "ep:2")
    assert await store.record(event, [first, second]) == [(first, True), (second, True)]
    first.attempts = 3
    await store.save_delivery(first)
    # Recording again (the listener ran twice) keeps what is stored and says so.
    changed = event.model_copy(update={"body": "other"})
    third = _delivery(event, "ep:3")
    again = await store.record(changed, [_delivery(event, "ep:1"), third])
    assert [(d.id, d.attempts, created) for d, created in again] == [
        (first.id, 3, False), (third.id, 0, True)]
    assert (await store.get_event(event.id)).body == "{}"  # type: ignore[union-attr]
    loaded, loaded_event = await store.load(first.id, event.id)
    assert loaded is not None and loaded.attempts == 3 and loaded_event == event
    assert await store.load("dlv_missing", event.id) == (None, event)
    assert await store.record(_event(job=None), []) == []


async def test_attempts_are_logged_in_order_with_the_delivery(store: WebhookStore) -> None:
    delivery = await _one(store, _delivery(_event()))
    for number, code in ((1, 500), (2, 200)):
        delivery.attempts = number
        delivery.last_status_code = code
        await store.add_attempt(delivery, Attempt(number=number, started_at=time.time(),
                                                  status_code=code, outcome="x"))
    assert [a.status_code for a in await store.list_attempts(delivery.id)] == [500, 200]
    stored = await store.get_delivery(delivery.id)
    assert stored is not None and (stored.attempts, stored.last_status_code) == (2, 200)
    assert stored.headers == {"authorization": "Bearer receiver-token"}


async def test_deliveries_list_newest_first_with_filters_and_cursor(store: WebhookStore) -> None:
    base = time.time()
    made = []
    for i in range(7):
        event = _event(job=f"job_{i % 2}", at=base + i)
        delivery = _delivery(event)
        delivery.status = DeliveryStatus.EXHAUSTED if i in (2, 5) else DeliveryStatus.SUCCEEDED
        made.append(await _one(store, delivery, event))
    await _one(store, _delivery(_event(org="org-b", job="job_0", at=base + 3.5)))
    newest_first = [d.id for d in reversed(made)]

    seen, cursor = [], None
    while True:
        page = await store.list_deliveries("org-a", limit=3, cursor=cursor)
        seen += [d.id for d in page.deliveries]
        if not (cursor := page.next_cursor):
            break
    assert seen == newest_first

    by_job = await store.list_deliveries("org-a", job_id="job_0")
    assert [d.id for d in by_job.deliveries] == [made[i].id for i in (6, 4, 2, 0)]
    failed = await store.list_deliveries("org-a", status=DeliveryStatus.EXHAUSTED)
    assert [d.id for d in failed.deliveries] == [made[5].id, made[2].id]
    both = await store.list_deliveries("org-a", job_id="job_1", status=DeliveryStatus.EXHAUSTED)
    assert [d.id for d in both.deliveries] == [made[5].id]
    assert [d.org_id for d in (await store.list_deliveries("org-b")).deliveries] == ["org-b"]


async def test_delivery_records_expire_with_retention(store: WebhookStore) -> None:
    if isinstance(store, MemoryWebhookStore):
        now = [time.time()]
        store = MemoryWebhookStore(RETENTION_S, clock=lambda: now[0])
    event = _event()
    delivery = await _one(store, _delivery(event), event)
    await store.add_attempt(delivery, Attempt(number=1, started_at=time.time(), outcome="x"))
    await store.put_endpoint(endpoint := Endpoint(org_id="org-a", url="https://a.example/"))
    if isinstance(store, MemoryWebhookStore):
        now[0] += RETENTION_S + 1
        assert await store.get_delivery(delivery.id) is None
        assert await store.get_event(event.id) is None
        assert await store.list_attempts(delivery.id) == []
        assert (await store.list_deliveries("org-a")).deliveries == []
        assert await store.get_endpoint("org-a", endpoint.id) is not None  # endpoints stay
        return
    redis = store._r  # type: ignore[attr-defined]
    prefix = store._p  # type: ignore[attr-defined]
    for key in (f"evt:{event.id}", f"dlv:{delivery.id}", f"att:{delivery.id}",
                "org:org-a:dlv", "job:job_1:dlv"):
        ttl = await redis.ttl(prefix + key)
        assert 0 < ttl <= RETENTION_S, key
    assert await redis.ttl(f"{prefix}ep:org-a") == -1  # endpoints stay
