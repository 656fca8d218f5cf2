"""The alert rules (k8s/base/prometheus-rules.yaml): valid for Prometheus (`promtool check
rules`), firing on the series they are meant for (`promtool test rules` with
alert_rules_test.yml), and over metric names the platform really exports."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

import services.observability.prom  # noqa: F401  (registers the platform's metrics)
from tests.k8s.kustomize import load_documents

HERE = Path(__file__).resolve().parent
RULES = HERE.parents[1] / "k8s" / "base" / "prometheus-rules.yaml"
EXPECTED = {"JobErrorRateHigh", "HttpErrorRateHigh", "JobLatencyP95High", "CostRateHigh",
            "CacheHitRateLow", "QueueBacklogGrowing", "JobQueueWaitHigh",
            "DeadLetterQueueNotEmpty", "CircuitBreakerOpen"}


def promtool() -> str:
    found = shutil.which("promtool")
    if found:
        return found
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("promtool is missing: scripts/services.sh installs it (Debian `prometheus`)")
    pytest.skip("promtool not installed (Debian package `prometheus`)")


def groups() -> list[dict[str, object]]:
    return [g for doc in load_documents(RULES) for g in doc["spec"]["groups"]]


def rules_file(directory: Path) -> Path:
    """The PrometheusRule objects' groups as a plain Prometheus rules file."""
    path = directory / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": groups()}))
    return path


def test_promtool_accepts_the_rules(tmp_path: Path) -> None:
    out = subprocess.run([promtool(), "check", "rules", str(rules_file(tmp_path))],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_the_alerts_fire_on_their_series(tmp_path: Path) -> None:
    rules_file(tmp_path)
    shutil.copy(HERE / "alert_rules_test.yml", tmp_path / "alert_rules_test.yml")
    out = subprocess.run([promtool(), "test", "rules", "alert_rules_test.yml"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_threshold_has_an_alert_over_exported_metrics() -> None:
    rules = [r for g in groups() for r in g["rules"]]  # type: ignore[attr-defined]
    assert EXPECTED <= {r["alert"] for r in rules if "alert" in r}
    suffixes = {"counter": ["_total"], "gauge": [""], "histogram": ["_bucket", "_count", "_sum"]}
    exported = {m.name + end for m in REGISTRY.collect() for end in suffixes.get(m.type, [""])}
    for rule in rules:
        names = set(re.findall(r"\baim_[a-z_0-9]+", rule["expr"]))
        assert names <= exported, (rule.get("alert") or rule.get("record"), names - exported)
