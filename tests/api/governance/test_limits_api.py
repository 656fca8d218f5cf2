"""Limits configured through the API: 429 with Retry-After and the IETF RateLimit fields,
remaining allowance on success, all-or-nothing across limits, org scoping, bad input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.api.governance.support import scoped_key
from tests.backends import BACKENDS
from tests.platform import platform

RATELIMIT = re.compile(r'^"(?P<name>[\w-]+)";r=(?P<r>\d+);t=(?P<t>\d+)')


def field(item: str, name: str) -> str:
    """One parameter of a RateLimit list member, e.g. field('"a";r=2;t=1', "r") == "2"."""
    found = RATELIMIT.match(item.strip())
    assert found is not None, item
    return found[name]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_requests_per_minute_per_key(backend: str, tmp_path: Path, unique: str) -> None:
    async with platform(backend, unique, tmp_path, workers=False) as p:
        admin, _ = await scoped_key(p.ctx, "org-a", ["admin"])
        caller, key_id = await scoped_key(p.ctx, "org-a", ["jobs:write"])
        put = await p.client.put(f"/api/v1/limits/keys/{key_id}", headers=admin, json={"requests_per_minute": 3})
        assert put.status_code == 200 and put.json()["policy"] == {"requests_per_minute": 3}

        answers = [await p.submit(headers=caller) for _ in range(4)]
        assert [a.status_code for a in answers] == [202, 202, 202, 429]
        assert [field(a.headers["RateLimit"], "r") for a in answers[:3]] == ["2", "1", "0"]
        assert answers[0].headers["RateLimit-Policy"] == '"key-rpm";q=3;w=60'
        limited = answers[3]
        assert limited.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(limited.headers["Retry-After"]) <= 20  # one request comes back every 20 s
        assert field(limited.headers["RateLimit"], "r") == "0"
        assert limited.headers["RateLimit-Policy"] == '"key-rpm";q=3;w=60'
        # Another key of the org is not limited by this key's policy.
        assert (await p.submit()).status_code == 202


async def test_tokens_per_minute_and_all_or_nothing(tmp_path: Path, unique: str) -> None:
    async with platform("embedded", unique, tmp_path, workers=False) as p:
        admin, _ = await scoped_key(p.ctx, "org-a", ["admin"])
        caller, key_id = await scoped_key(p.ctx, "org-a", ["jobs:write"])
        await p.client.put("/api/v1/limits/org", headers=admin, json={"requests_per_minute": 100})
        await p.client.put(f"/api/v1/limits/keys/{key_id}", headers=admin, json={"tokens_per_minute": 1000})
        ok = await p.submit(headers=caller, max_tokens=600)
        assert ok.status_code == 202
        names = {field(part, "name") for part in ok.headers["RateLimit"].split(",")}
        assert names == {"org-rpm", "key-tpm"}
        assert 'qu="tokens"' in ok.headers["RateLimit-Policy"]
        refused = await p.submit(headers=caller, max_tokens=600)
        assert refused.status_code == 429 and refused.json()["error"]["limit"] == "key-tpm"
        # The refused request took nothing from the org's request budget: 98 remain, not 97.
        other = await p.submit(max_tokens=10)
        org = next(part for part in other.headers["RateLimit"].split(",") if "org-rpm" in part)
        assert field(org, "r") == "98"


async def test_limits_are_org_scoped_and_validated(tmp_path: Path, unique: str) -> None:
    async with platform("embedded", unique, tmp_path, workers=False) as p:
        admin, _ = await scoped_key(p.ctx, "org-a", ["admin"])
        reader, _ = await scoped_key(p.ctx, "org-a", ["config:read"])
        _, other_org_key = await scoped_key(p.ctx, "org-b")
        assert (await p.client.put(f"/api/v1/limits/keys/{other_org_key}", headers=admin,
                                   json={"requests_per_minute": 1})).status_code == 404
        assert (await p.client.get(f"/api/v1/limits/keys/{other_org_key}", headers=admin)).status_code == 404
        bad = await p.client.put("/api/v1/limits/org", headers=admin, json={"requests_per_minute": 0})
        assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "requests_per_minute"
        unknown = await p.client.put("/api/v1/limits/everyone", headers=admin, json={})
        assert unknown.status_code == 422 and unknown.json()["error"]["fields"][0]["field"] == "path.subject"
        extra = await p.client.put("/api/v1/limits/org", headers=admin, json={"rpm": 5})
        assert extra.status_code == 422 and extra.json()["error"]["fields"][0]["field"] == "rpm"
        assert (await p.client.put("/api/v1/limits/org", headers=reader, json={})).status_code == 403
        await p.client.put("/api/v1/limits/org", headers=admin, json={"daily_budget_usd": 5})
        shown = (await p.client.get("/api/v1/limits/org", headers=reader)).json()
        assert shown["policy"] == {"daily_budget_usd": 5.0}
        assert shown["budgets"] == [{"budget": "org-daily-usd", "cap_usd": 5.0, "spent_usd": 0.0,
                                     "reserved_usd": 0.0}]
        assert (await p.client.delete("/api/v1/limits/org", headers=admin)).status_code == 204
        assert (await p.client.delete("/api/v1/limits/org", headers=admin)).status_code == 404


async def test_per_thread_limits_on_a_bridge_and_per_user_on_the_org(tmp_path: Path, unique: str) -> None:
    async with platform("embedded", unique, tmp_path, workers=False) as p:
        bridge = await p.client.post("/api/v1/config/bridges", headers=p.org_a, json={
            "name": "support", "type": "chatbot", "response_format": {"type": "async"},
            "limits": {"per_thread": {"requests_per_minute": 1}}})
        assert bridge.status_code == 201, bridge.text

        async def run(thread: str | None) -> tuple[int, str | None]:
            answer = await p.client.post("/api/v2/model/chat/completion", headers=p.org_a, json={
                "bridge_id": bridge.json()["id"], "user": "hi", "thread_id": thread})
            return answer.status_code, answer.json().get("meta", {}).get("thread_id")

        first, thread = await run(None)  # a new thread
        assert (first, (await run(thread))[0], (await run(None))[0]) == (202, 429, 202)

        admin, _ = await scoped_key(p.ctx, "org-a", ["admin"])
        await p.client.put("/api/v1/limits/org", headers=admin, json={"per_user": {"requests_per_minute": 1}})
        codes = [(await p.submit(user=u)).status_code for u in ("u1", "u1", "u2")]
        assert codes == [202, 429, 202]
