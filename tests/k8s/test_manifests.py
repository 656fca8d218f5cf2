"""Every manifest in k8s/ validated offline, for both overlays: core kinds against the
Kubernetes schemas kubernetes-validate ships, custom resources against crd_schemas.py; and
the deployment properties the platform relies on (autoscaling, probes, disruption budgets,
network isolation, long-lived streams, scraping, secrets)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.k8s.crd_schemas import SCHEMAS
from tests.k8s.kustomize import Obj, build, containers, load_documents
from tests.pools import CELERY_POOLS, all_pools, queues_of

K8S = Path(__file__).resolve().parents[2] / "k8s"
OVERLAYS = ["dev", "prod"]
KUBERNETES_VERSION = "1.32"
REQUIRED_SECRET_KEYS = {"QUEUE_CONNECTIONURL", "REDIS_URI", "MONGODB_CONNECTION_URI",
                        "TIMESCALE_SERVICE_URL", "ENCRYPTION_KEYS"}


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def rendered(overlay: str) -> list[Obj]:
    return build(K8S / "overlays" / overlay)


def validate(obj: Obj) -> None:
    schema = SCHEMAS.get((obj["apiVersion"], obj["kind"]))
    if schema is not None:
        jsonschema.validate(obj, schema)
    else:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def one(objects: list[Obj], kind: str, name: str) -> Obj:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def of_kind(objects: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o["kind"] == kind]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


def pod_labels(deployment: Obj) -> dict[str, str]:
    return dict(deployment["spec"]["template"]["metadata"]["labels"])


def test_every_object_is_valid(rendered: list[Obj]) -> None:
    assert len(rendered) >= 25
    for obj in rendered:
        validate(obj)
    assert {o["metadata"].get("namespace") for o in rendered} == {rendered[0]["metadata"]["namespace"]}


def test_the_example_secret_is_valid_and_complete() -> None:
    (example,) = load_documents(K8S / "overlays" / "prod" / "secret.example.yaml")
    validate(example)
    assert REQUIRED_SECRET_KEYS <= set(example["stringData"])


def test_the_python_render_matches_kubectl(overlay: str) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("no kubectl here: the Python render alone is checked")
    out = subprocess.run([kubectl, "kustomize", str(K8S / "overlays" / overlay)],
                         capture_output=True, text=True, check=True).stdout
    key = lambda o: (o["kind"], o["metadata"]["name"])  # noqa: E731
    assert sorted(build(K8S / "overlays" / overlay), key=key) == sorted(
        (d for d in yaml.safe_load_all(out) if d), key=key)


def test_each_worker_pool_has_a_deployment_scaled_object_probes_and_budget(rendered: list[Obj]) -> None:
    config = one(rendered, "ConfigMap", "ai-middleware")["data"]
    drain_grace_s = float(config["JOBS_DRAIN_GRACE_S"])
    for pool in sorted(all_pools()):
        deployment = one(rendered, "Deployment", f"ai-middleware-worker-{pool}")
        (container,) = containers(deployment)
        assert container["command"][-2:] == ["--pool", pool]
        if pool in CELERY_POOLS:  # a Celery worker: its own remote-control ping is the probe
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert "inspect ping" in " ".join(container[probe]["exec"]["command"])
        else:
            assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
            assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
            assert {"containerPort": 9100, "name": "metrics"} in container["ports"]
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert {"cpu", "memory"} <= set(container["resources"]["limits"])
        # The kubelet's SIGKILL must come after the drain could finish.
        assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > drain_grace_s

        scalers = [s for s in of_kind(rendered, "ScaledObject")
                   if s["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]]
        assert len(scalers) == 1, pool
        (trigger,) = scalers[0]["spec"]["triggers"]
        assert trigger["type"] == "rabbitmq" and trigger["metadata"]["mode"] == "QueueLength"
        assert trigger["metadata"]["queueName"] in queues_of(pool)
        assert not trigger["metadata"]["queueName"].endswith(".dead")
        one(rendered, "TriggerAuthentication", trigger["authenticationRef"]["name"])

        budgets = [b for b in of_kind(rendered, "PodDisruptionBudget")
                   if selects(b["spec"]["selector"], pod_labels(deployment))]
        assert len(budgets) == 1, pool


def test_the_api_scales_on_cpu_and_shuts_down_gracefully(rendered: list[Obj]) -> None:
    api = one(rendered, "Deployment", "ai-middleware-api")
    (container,) = containers(api)
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthcheck"
    assert container["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    # preStop + the server's 30 s graceful shutdown fit in the grace period.
    assert api["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 5 + 30
    hpa = one(rendered, "HorizontalPodAutoscaler", "ai-middleware-api")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "ai-middleware-api"
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert any(selects(b["spec"]["selector"], pod_labels(api)) for b in of_kind(rendered, "PodDisruptionBudget"))


def test_only_the_api_takes_ingress(rendered: list[Obj]) -> None:
    policies = of_kind(rendered, "NetworkPolicy")
    for deployment in of_kind(rendered, "Deployment"):
        labels = pod_labels(deployment)
        mine = [p for p in policies if selects(p["spec"]["podSelector"], labels)]
        assert mine and all("Ingress" in p["spec"]["policyTypes"] for p in mine), deployment["metadata"]["name"]
        rules = [r for p in mine for r in p["spec"].get("ingress", [])]
        if labels["role"] == "api":
            assert rules == [{"ports": [{"port": 8080, "protocol": "TCP"}]}]
        else:
            # Workers: Prometheus's scrapes from the monitoring namespace, nothing else.
            assert rules and all(r["from"] and r["ports"] == [{"port": 9100, "protocol": "TCP"}] for r in rules)
        # Egress: the cluster (broker, stores) and the internet, not the metadata address.
        egress = [r for p in mine for r in p["spec"]["egress"]]
        blocks = [t["ipBlock"] for r in egress for t in r.get("to", []) if "ipBlock" in t]
        assert {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]} in blocks


def test_the_ingress_keeps_streams_open(rendered: list[Obj]) -> None:
    (ingress,) = of_kind(rendered, "Ingress")
    notes = ingress["metadata"]["annotations"]
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(notes["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    assert notes["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    one(rendered, "Service", backend["name"])


def test_every_pod_is_scraped(rendered: list[Obj]) -> None:
    (monitor,) = of_kind(rendered, "PodMonitor")
    ports = {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]}
    for deployment in of_kind(rendered, "Deployment"):
        if pod_labels(deployment).get("pool") in CELERY_POOLS:
            continue  # a Celery worker serves no /metrics of ours (its queue depth is RabbitMQ's)
        assert selects(monitor["spec"]["selector"], pod_labels(deployment))
        (container,) = containers(deployment)
        assert ports & {p["name"] for p in container["ports"]}, deployment["metadata"]["name"]
        assert deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/scrape"] == "true"


def test_credentials_come_from_the_secret(overlay: str, rendered: list[Obj]) -> None:
    for deployment in of_kind(rendered, "Deployment"):
        (container,) = containers(deployment)
        assert {"secretRef": {"name": "ai-middleware"}} in container["envFrom"]
        assert not {e["name"] for e in container.get("env", [])} & REQUIRED_SECRET_KEYS
    assert not REQUIRED_SECRET_KEYS & set(one(rendered, "ConfigMap", "ai-middleware")["data"])
    secrets = of_kind(rendered, "Secret")
    if overlay == "dev":
        assert REQUIRED_SECRET_KEYS <= set(one(rendered, "Secret", "ai-middleware")["stringData"])
    else:
        assert secrets == []  # production's comes from the secret store
