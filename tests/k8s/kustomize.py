"""A small Kustomize renderer for CI machines without a `kustomize` / `kubectl` binary.

It supports what k8s/ uses and refuses anything else, so an overlay cannot quietly grow a
feature this renderer would mis-render: `resources` (files and directories), `namespace`,
`images` (newName / newTag) and `patches` given by `path` (strategic merge patches:
mappings merge, lists of named items merge by `name`, other lists are replaced, as
Kubernetes does for the fields k8s/ patches). test_manifests.py checks its output against
`kubectl kustomize` wherever that binary exists.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "images", "patches"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
Obj = dict[str, Any]


def load_documents(path: Path) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def build(directory: Path) -> list[Obj]:
    """The objects `kustomize build directory` would output (in no particular order)."""
    spec: Obj = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(spec) - SUPPORTED
    if unknown:
        raise ValueError(f"{directory}: kustomization fields {sorted(unknown)} are not supported here")
    objects: list[Obj] = []
    for entry in spec.get("resources", []):
        path = directory / entry
        objects += build(path) if path.is_dir() else load_documents(path)
    for patch in spec.get("patches", []):
        if set(patch) != {"path"}:
            raise ValueError(f"{directory}: only `patches: - path: FILE` is supported")
        for doc in load_documents(directory / patch["path"]):
            merge(target_of(objects, doc), doc)
    if namespace := spec.get("namespace"):
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = namespace
    for image in spec.get("images", []):
        set_image(objects, image)
    return objects


def target_of(objects: list[Obj], patch: Obj) -> Obj:
    for obj in objects:
        if obj["kind"] == patch["kind"] and obj["metadata"]["name"] == patch["metadata"]["name"]:
            return obj
    raise ValueError(f"patch for missing {patch['kind']}/{patch['metadata']['name']}")


def merge(into: Obj, patch: Obj) -> None:
    for key, value in patch.items():
        current = into.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merge(current, value)
        elif isinstance(current, list) and isinstance(value, list) and _named(current) and _named(value):
            by_name = {item["name"]: item for item in current}
            for item in value:
                if item["name"] in by_name:
                    merge(by_name[item["name"]], item)
                else:
                    current.append(copy.deepcopy(item))
        else:
            into[key] = copy.deepcopy(value)


def _named(items: list[Any]) -> bool:
    return all(isinstance(item, dict) and "name" in item for item in items)


def containers(obj: Obj) -> list[Obj]:
    pod = obj.get("spec", {}).get("template", {}).get("spec", {})
    return list(pod.get("containers", [])) + list(pod.get("initContainers", []))


def set_image(objects: list[Obj], image: Obj) -> None:
    for obj in objects:
        for container in containers(obj):
            name, _, tag = container["image"].partition(":")
            if name == image["name"]:
                container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"
