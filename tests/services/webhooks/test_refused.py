"""Internal targets are refused at send time: recorded as the attempt's error, not retried."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from services.jobs.model import Job, JobKind, JobStatus
from services.net.guard import NetPolicy
from tests.backends import BACKENDS
from tests.webhook_support import webhook_platform

REFUSED = {
    "http://127.0.0.1:9/hook": "refused: loopback address 127.0.0.1",
    "http://[::1]:9/hook": "refused: loopback address ::1",
    "http://169.254.169.254/latest/meta-data/": "refused: cloud metadata address 169.254.169.254",
    "http://10.0.0.1/hook": "refused: private address 10.0.0.1",
    "http://localhost:9/hook": "refused: localhost resolves to loopback address",
    "https://hooks.example.com/in": "refused: hooks.example.com resolves to private address 10.1.2.3",
    # An octal host is not a canonical address (the socket layer would read it as 127.0.0.1);
    # full-width digits normalise to 127.0.0.1. Refused, not a crashed delivery.
    "http://0177.0.0.1:8080/h": "refused: not a valid URL",
    "http://\uff11\uff12\uff17.0.0.1:8080/h": "refused: loopback address 127.0.0.1",
}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


async def fake_dns(host: str, port: int) -> Sequence[str]:
    """Stands in for DNS (none is reachable here): one public-looking name, private answer."""
    return {"hooks.example.com": ["10.1.2.3"], "localhost": ["127.0.0.1", "::1"]}.get(host, [])


async def test_each_internal_target_is_refused_with_its_reason(
    backend: str, unique: str, tmp_path: Path,
) -> None:
    # No allow-list here: 127.0.0.1 is as forbidden as in production.
    async with webhook_platform(backend, unique, tmp_path, allow_cidrs=[]) as p:
        assert p.ctx.webhooks is not None
        p.ctx.webhooks.policy = NetPolicy.build(resolver=fake_dns)
        for url in REFUSED:
            job = Job(org_id="org-a", kind=JobKind.MODEL, status=JobStatus.FAILED,
                      request={"webhook": {"url": url}}, finished_at=time.time())
            await p.ctx.lifecycle.listeners.finished(job)
        deliveries = {d["url"]: d for d in await p.deliveries(limit=50)}
        assert set(deliveries) == set(REFUSED)
        for url, reason in REFUSED.items():
            delivery = await p.settled(deliveries[url]["id"])
            assert delivery["status"] == "failed", url
            (attempt,) = delivery["attempt_log"]  # one attempt: no retry
            assert attempt["outcome"] == "refused"
            assert attempt["error"].startswith(reason), (url, attempt["error"])
            assert attempt["status_code"] is None
