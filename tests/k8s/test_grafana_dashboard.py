"""The Grafana dashboard's queries run against the real schema and name real metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import psycopg
from prometheus_client import REGISTRY

import services.observability.prom  # noqa: F401  (registers the platform's metrics)
from services.metrics.postgres_migrate import migrate

DASHBOARD = Path(__file__).resolve().parents[2] / "k8s" / "grafana-dashboard.json"
# Grafana's macros, expanded as its PostgreSQL data source would for a 1-minute interval.
MACROS = [
    (re.compile(r"\$__timeGroupAlias\((\w+), \$__interval\)"), r"date_trunc('minute', \1) AS time"),
    (re.compile(r"\$__timeFilter\((\w+)\)"), r"\1 > now() - interval '1 day'"),
    (re.compile(r"\(\$org\)"), "('org-a', 'org-b')"),
]


def targets(kind: str) -> list[dict[str, Any]]:
    board = json.loads(DASHBOARD.read_text())
    found = [t for p in board["panels"] for t in p.get("targets", []) if t["datasource"]["type"] == kind]
    variables = [v for v in board["templating"]["list"] if v["type"] == "query"]
    return found + [{"rawSql": v["query"]} for v in variables if kind.endswith("postgresql-datasource")]


async def test_every_sql_query_runs_on_the_migrated_schema(pg_url: str, pg_schema: str) -> None:
    queries = targets("grafana-postgresql-datasource")
    assert len(queries) >= 10
    async with await psycopg.AsyncConnection.connect(
        pg_url, autocommit=True, options=f"-c search_path={pg_schema},public",
    ) as conn:
        await migrate(conn)
        for target in queries:
            sql = target["rawSql"]
            for pattern, replacement in MACROS:
                sql = pattern.sub(replacement, sql)
            assert "$" not in sql, sql
            await conn.execute(sql.encode())


def test_every_prometheus_query_names_an_exported_metric() -> None:
    suffixes = {"counter": ["_total"], "gauge": [""], "histogram": ["_bucket", "_count", "_sum"]}
    exported = {m.name + end for m in REGISTRY.collect() for end in suffixes.get(m.type, [""])}
    for target in targets("prometheus"):
        names = set(re.findall(r"\baim_[a-z_]+", target["expr"]))
        assert names and names <= exported, (target["expr"], names - exported)
