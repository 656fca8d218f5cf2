"""GET /api/v1/usage through the whole platform, and its parameter checks."""

from __future__ import annotations

import asyncio

import pytest

from tests.backends import BACKENDS
from tests.platform import platform


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


async def test_a_finished_job_shows_in_its_orgs_usage(backend: str, unique: str, tmp_path) -> None:
    async with platform(backend, unique, tmp_path, pools=["model", "metrics"]) as p:
        done = (await p.submit("count me", wait=10)).json()
        assert done["status"] == "succeeded"
        body: dict = {}
        for _ in range(200):
            got = await p.client.get("/api/v1/usage", params={"group_by": "model"}, headers=p.org_a)
            assert got.status_code == 200, got.text
            body = got.json()
            if body["totals"]["requests"]:
                break
            await asyncio.sleep(0.05)
        assert body["totals"]["requests"] == 1 and body["totals"]["errors"] == 0
        assert [g["key"] for g in body["groups"]] == ["mock-0ms"]
        assert body["totals"]["latency_ms"]["p50"] is not None
        theirs = await p.client.get("/api/v1/usage", headers=p.org_b)
        assert theirs.json()["totals"]["requests"] == 0


@pytest.mark.parametrize(("params", "field"), [
    ({"from": "yesterday"}, "from"),
    ({"to": "2026-13-01"}, "to"),
    ({"group_by": "week"}, "group_by"),
    ({"from": "2026-03-02", "to": "2026-03-01"}, "from"),
    ({"from": "2020-01-01", "to": "2026-01-01"}, "from"),
])
async def test_bad_parameters_are_422_naming_the_field(
    params: dict[str, str], field: str, unique: str, tmp_path,
) -> None:
    async with platform("embedded", unique, tmp_path, workers=False) as p:
        got = await p.client.get("/api/v1/usage", params=params, headers=p.org_a)
        assert got.status_code == 422
        assert got.json()["error"]["fields"][0]["field"] == field


async def test_usage_needs_an_api_key(unique: str, tmp_path) -> None:
    async with platform("embedded", unique, tmp_path, workers=False) as p:
        assert (await p.client.get("/api/v1/usage")).status_code == 401


async def test_dates_and_zones_are_read_as_utc(unique: str, tmp_path) -> None:
    async with platform("embedded", unique, tmp_path, workers=False) as p:
        got = await p.client.get("/api/v1/usage", headers=p.org_a, params={
            "from": "2026-03-01", "to": "2026-03-02T02:00:00+02:00", "group_by": "HOUR"})
        body = got.json()
        assert (body["from"], body["to"], body["group_by"]) == (
            "2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z", "hour")
