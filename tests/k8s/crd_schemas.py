"""Minimal JSON schemas for the custom resources in k8s/ (KEDA, Prometheus Operator), which
kubernetes-validate does not ship: the fields we use, their types, and no unknown ones."""

from __future__ import annotations

from typing import Any

_META = {"type": "object", "required": ["name"], "properties": {
    "name": {"type": "string"}, "namespace": {"type": "string"},
    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
}, "additionalProperties": False}


def _kind(api_version: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
            "additionalProperties": False, "properties": {
                "apiVersion": {"const": api_version}, "kind": {"const": kind},
                "metadata": _META, "spec": spec}}


def _object(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties,
            "additionalProperties": False}


_STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
_NAME_REF = _object(["name"], {"name": {"type": "string"}})

SCALED_OBJECT = _kind("keda.sh/v1alpha1", "ScaledObject", _object(["scaleTargetRef", "triggers"], {
    "scaleTargetRef": _object(["name"], {"name": {"type": "string"}, "kind": {"type": "string"},
                                         "apiVersion": {"type": "string"}}),
    "minReplicaCount": {"type": "integer", "minimum": 0},
    "maxReplicaCount": {"type": "integer", "minimum": 1},
    "pollingInterval": {"type": "integer", "minimum": 1},
    "cooldownPeriod": {"type": "integer", "minimum": 0},
    "triggers": {"type": "array", "minItems": 1, "items": _object(["type", "metadata"], {
        "type": {"type": "string"}, "metadata": _STRINGS, "authenticationRef": _NAME_REF})},
}))

TRIGGER_AUTHENTICATION = _kind("keda.sh/v1alpha1", "TriggerAuthentication", _object(["secretTargetRef"], {
    "secretTargetRef": {"type": "array", "minItems": 1, "items": _object(["parameter", "name", "key"], {
        "parameter": {"type": "string"}, "name": {"type": "string"}, "key": {"type": "string"}})},
}))

POD_MONITOR = _kind("monitoring.coreos.com/v1", "PodMonitor", _object(["selector", "podMetricsEndpoints"], {
    "selector": _object(["matchLabels"], {"matchLabels": _STRINGS}),
    "podMetricsEndpoints": {"type": "array", "minItems": 1, "items": _object(["port"], {
        "port": {"type": "string"}, "path": {"type": "string"},
        "interval": {"type": "string", "pattern": r"^\d+[smh]$"}})},
}))

_RULE = {"type": "object", "additionalProperties": False, "oneOf": [
    {"required": ["alert", "expr"]}, {"required": ["record", "expr"]}], "properties": {
    "alert": {"type": "string"}, "record": {"type": "string"}, "expr": {"type": "string"},
    "for": {"type": "string", "pattern": r"^\d+[smh]$"}, "labels": _STRINGS, "annotations": _STRINGS}}

PROMETHEUS_RULE = _kind("monitoring.coreos.com/v1", "PrometheusRule", _object(["groups"], {
    "groups": {"type": "array", "minItems": 1, "items": _object(["name", "rules"], {
        "name": {"type": "string"}, "rules": {"type": "array", "minItems": 1, "items": _RULE}})},
}))

SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): SCALED_OBJECT,
    ("keda.sh/v1alpha1", "TriggerAuthentication"): TRIGGER_AUTHENTICATION,
    ("monitoring.coreos.com/v1", "PodMonitor"): POD_MONITOR,
    ("monitoring.coreos.com/v1", "PrometheusRule"): PROMETHEUS_RULE,
}
