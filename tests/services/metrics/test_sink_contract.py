"""One contract, two metrics sinks: the embedded one must answer exactly like PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from config import TimescaleSettings
from services.metrics.memory_sink import MemoryMetricsSink
from services.metrics.schemas import GroupBy, UsageReport
from services.metrics.sink import MetricsSink
from tests.conftest import require_env
from tests.services.metrics.conftest import T0, event

FROM = datetime(2026, 3, 1, tzinfo=UTC)
TO = datetime(2026, 3, 3, tzinfo=UTC)


@pytest.fixture(params=["memory", "postgres"])
async def sink(request: pytest.FixtureRequest) -> AsyncIterator[MetricsSink]:
    if request.param == "memory":
        yield MemoryMetricsSink()
        return
    require_env("TIMESCALE_SERVICE_URL")
    from services.metrics.postgres_sink import PostgresMetricsSink

    settings: TimescaleSettings = request.getfixturevalue("pg_settings")
    pg = PostgresMetricsSink(settings, role="test")
    await pg.open()
    try:
        yield pg
    finally:
        await pg.close()


DATASET = [
    event("j1", bridge_id="b1", model="m1", provider="openai", cache="hit", total_ms=100.0,
          input_tokens=10, output_tokens=20, cost_usd=0.5),
    event("j2", time=T0 + timedelta(minutes=30), bridge_id="b1", model="m1", provider="openai",
          status="failed", error_class="provider_error", cache="miss", total_ms=200.0,
          input_tokens=0, output_tokens=0, cost_usd=0.0),
    event("j3", time=T0 + timedelta(hours=1), bridge_id=None, model="m2", provider="anthropic",
          cache="bypass", total_ms=300.0, input_tokens=5, output_tokens=5, cost_usd=0.25),
    event("j4", time=datetime(2026, 3, 2, 0, 30, tzinfo=UTC), bridge_id="b2", model="m2",
          provider="anthropic", cache=None, total_ms=None, input_tokens=1, output_tokens=1,
          cost_usd=0.125),
    # Another org, and org-a outside the range: never counted below.
    event("j5", org_id="org-b", model="m1", total_ms=5000.0, cost_usd=9.0),
    event("j6", time=FROM - timedelta(seconds=1), cost_usd=9.0),
    event("j7", time=TO, cost_usd=9.0),
]


def by_key(report: UsageReport) -> dict[str | None, dict]:
    return {g.key: g.model_dump() for g in report.groups}


async def test_rewriting_the_same_events_adds_nothing(sink: MetricsSink) -> None:
    assert await sink.write(DATASET[:3]) == 3
    # A redelivered batch (plus one new event) only adds the new one.
    assert await sink.write([*DATASET[:3], DATASET[3]]) == 1
    assert await sink.write(DATASET[:4]) == 0
    report = await sink.usage("org-a", FROM, TO, GroupBy.DAY)
    assert report.totals.requests == 4


async def test_totals_cover_one_org_in_the_range(sink: MetricsSink) -> None:
    await sink.write(DATASET)
    totals = (await sink.usage("org-a", FROM, TO, GroupBy.PROVIDER)).totals
    assert totals.requests == 4 and totals.errors == 1 and totals.error_rate == 0.25
    assert (totals.input_tokens, totals.output_tokens) == (16, 26)
    assert totals.cost_usd == pytest.approx(0.875)
    # percentile_cont over [100, 200, 300]; j4 has no latency and is left out.
    assert totals.latency_ms.p50 == pytest.approx(200.0)
    assert totals.latency_ms.p95 == pytest.approx(290.0)
    assert totals.latency_ms.p99 == pytest.approx(298.0)
    # One hit out of two lookups: the bypass and the unrecorded one are not lookups.
    assert totals.cache_hit_rate == 0.5
    other = (await sink.usage("org-b", FROM, TO, GroupBy.PROVIDER)).totals
    assert other.requests == 1 and other.cost_usd == pytest.approx(9.0)


async def test_group_by_provider(sink: MetricsSink) -> None:
    await sink.write(DATASET)
    groups = by_key(await sink.usage("org-a", FROM, TO, GroupBy.PROVIDER))
    assert list(groups) == ["anthropic", "openai"]
    openai = groups["openai"]
    assert (openai["requests"], openai["errors"], openai["error_rate"]) == (2, 1, 0.5)
    assert openai["latency_ms"] == pytest.approx({"p50": 150.0, "p95": 195.0, "p99": 199.0})
    assert openai["cache_hit_rate"] == 0.5 and openai["cost_usd"] == pytest.approx(0.5)
    anthropic = groups["anthropic"]
    assert anthropic["latency_ms"] == pytest.approx({"p50": 300.0, "p95": 300.0, "p99": 300.0})
    assert anthropic["cache_hit_rate"] == 0.0 and anthropic["cost_usd"] == pytest.approx(0.375)


async def test_group_by_bridge_and_model_sort_missing_keys_last(sink: MetricsSink) -> None:
    await sink.write(DATASET)
    bridges = by_key(await sink.usage("org-a", FROM, TO, GroupBy.BRIDGE))
    assert list(bridges) == ["b1", "b2", None]
    assert [bridges[k]["requests"] for k in bridges] == [2, 1, 1]
    models = by_key(await sink.usage("org-a", FROM, TO, GroupBy.MODEL))
    assert {k: v["requests"] for k, v in models.items()} == {"m1": 2, "m2": 2}


async def test_group_by_day_and_hour_in_utc(sink: MetricsSink) -> None:
    await sink.write(DATASET)
    days = by_key(await sink.usage("org-a", FROM, TO, GroupBy.DAY))
    assert {k: v["requests"] for k, v in days.items()} == {
        "2026-03-01T00:00:00Z": 3, "2026-03-02T00:00:00Z": 1,
    }
    hours = by_key(await sink.usage("org-a", FROM, TO, GroupBy.HOUR))
    assert {k: v["requests"] for k, v in hours.items()} == {
        "2026-03-01T10:00:00Z": 2, "2026-03-01T11:00:00Z": 1, "2026-03-02T00:00:00Z": 1,
    }
    assert hours["2026-03-01T10:00:00Z"]["input_tokens"] == 10


async def test_range_includes_from_and_excludes_to(sink: MetricsSink) -> None:
    await sink.write([event("a", time=FROM), event("b", time=TO - timedelta(microseconds=1)),
                      event("c", time=TO)])
    report = await sink.usage("org-a", FROM, TO, GroupBy.DAY)
    assert report.totals.requests == 2


async def test_text_keys_sort_bytewise(sink: MetricsSink) -> None:
    await sink.write([event("a", model="alpha"), event("b", model="Zeta"), event("c", model="beta")])
    report = await sink.usage("org-a", FROM, TO, GroupBy.MODEL)
    assert [g.key for g in report.groups] == ["Zeta", "alpha", "beta"]


async def test_empty_range_has_zero_totals_and_no_percentiles(sink: MetricsSink) -> None:
    await sink.write(DATASET)
    report = await sink.usage("org-nobody", FROM, TO, GroupBy.MODEL)
    assert report.groups == []
    assert report.totals.requests == 0 and report.totals.cost_usd == 0.0
    assert report.totals.latency_ms.p50 is None
