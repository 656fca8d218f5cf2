"""docker-compose.dev.yml runs the whole platform: every queue the code declares has a
service consuming it, on production-like images, started only once its backends are healthy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from services.broker.queues import Queue
from tests.pools import all_pools, queues_of

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.dev.yml"
BACKENDS = {"rabbitmq", "redis", "mongo", "timescaledb"}


def services() -> dict[str, dict[str, Any]]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return dict(loaded["services"])


def pools_of(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    if command[:3] != ["python", "index.py", "worker"]:
        return []
    return [p.strip() for p in command[command.index("--pool") + 1].split(",")]


def test_every_declared_queue_has_a_consuming_service() -> None:
    consumed: dict[str, list[str]] = {}
    for name, service in services().items():
        for pool in pools_of(service):
            assert pool in all_pools(), f"{name} runs unknown pool {pool}"
            for queue in queues_of(pool):
                consumed.setdefault(queue, []).append(name)
    missing = [q.value for q in Queue if q.value not in consumed]
    assert not missing, f"no service consumes {missing}"
    assert all_pools() <= {p for s in services().values() for p in pools_of(s)}


def test_the_api_and_the_ingest_pool_run_too() -> None:
    all_services = services()
    api = all_services["api"]
    assert "index:app" in api["command"]
    # The API does not consume (CONSUMER_STATUS unset): the worker services do.
    assert str(api["environment"].get("CONSUMER_STATUS", "false")).lower() == "false"
    assert any(pools_of(s) == ["ingest"] for s in all_services.values())


def test_app_services_wait_for_healthy_backends_and_have_health_checks() -> None:
    for name, service in services().items():
        if name in BACKENDS:
            assert "healthcheck" in service, name
            continue
        assert service["healthcheck"]["test"], name
        depends = service["depends_on"]
        assert set(depends) == BACKENDS, name
        assert all(d["condition"] == "service_healthy" for d in depends.values()), name


def test_images_match_production() -> None:
    all_services = services()
    assert all_services["rabbitmq"]["image"].endswith("-management")
    assert ["--appendonly", "yes"] == all_services["redis"]["command"][1:3]
    assert all_services["mongo"]["image"].startswith("mongo:")
    # timescaledb-ha ships TimescaleDB and pgvector together.
    assert all_services["timescaledb"]["image"].startswith("timescale/timescaledb-ha:pg16")


def test_published_ports_are_loopback_only() -> None:
    for name, service in services().items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)
