"""Rendering the charts with the harness's helm, and reading the results."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from storefront_harness.tools import tool

REPO = Path(__file__).resolve().parents[2]
OPERATOR_CHART = REPO / "charts" / "storefront-operator"
PLATFORM_CHART = REPO / "charts" / "storefront"
INGRESS_CHART = REPO / "charts" / "ingress-traefik"
PRODUCTION_VALUES = PLATFORM_CHART / "values-production.yaml"
LOCAL_VALUES = PLATFORM_CHART / "values-local.yaml"
CRD_DIR = OPERATOR_CHART / "crds"


def kube_version() -> str:
    """The Kubernetes version the harness runs. helm built from source without release
    ldflags assumes v1.20 for `helm template`, below the charts' kubeVersion, so tests
    state the real one."""
    for line in (REPO / "hack" / "tools.env").read_text().splitlines():
        if line.startswith("K8S_VERSION="):
            return line.split("=", 1)[1].strip().lstrip("v")
    raise RuntimeError("K8S_VERSION missing from hack/tools.env")


def helm(*args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([tool("helm"), *args], capture_output=True, text=True, timeout=180, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stderr}")
    return result


def template(chart: Path, release: str, namespace: str, *extra: str, check: bool = True) -> subprocess.CompletedProcess:
    return helm("template", release, str(chart), "--namespace", namespace,
                "--kube-version", kube_version(), *extra, check=check)


class StrictLoader(yaml.SafeLoader):
    """Refuses a mapping key given twice: helm keeps the last one, but strict parsers (skaffold's
    post-renderer, kubectl's client-side validation) reject the whole manifest."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} given twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def render(chart: Path, release: str, namespace: str, *extra: str) -> list[dict[str, Any]]:
    """The chart's manifests (test hooks included) as parsed documents, every key given once."""
    return [doc for doc in yaml.load_all(template(chart, release, namespace, *extra).stdout, Loader=StrictLoader)
            if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in by_kind(docs, kind) if name is None or d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {[d['metadata']['name'] for d in found]}"
    return found[0]


def pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(description, pod spec) of every Pod and every workload's pod template."""
    specs = []
    for doc in docs:
        kind, name = doc["kind"], doc["metadata"]["name"]
        if kind == "Pod":
            specs.append((f"Pod/{name}", doc["spec"]))
        elif kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
            specs.append((f"{kind}/{name}", doc["spec"]["template"]["spec"]))
    return specs


def as_bare_pod(workload: dict[str, Any]) -> dict[str, Any]:
    """A workload's pod template as a Pod, so Pod Security admission enforces on it (for
    workloads it only warns). Volume claim templates become PVC volumes, as the StatefulSet
    controller would make them."""
    spec = dict(workload["spec"]["template"]["spec"])
    claims = workload["spec"].get("volumeClaimTemplates") or []
    if claims:
        spec["volumes"] = [*spec.get("volumes", []), *(
            {"name": c["metadata"]["name"],
             "persistentVolumeClaim": {"claimName": f"{c['metadata']['name']}-{workload['metadata']['name']}-0"}}
            for c in claims)]
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"{workload['metadata']['name']}-pss", "namespace": workload["metadata"]["namespace"],
                     "labels": workload["spec"]["template"]["metadata"].get("labels", {})},
        "spec": spec,
    }


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
    text = re.sub(r"\\\n", " ", "\n".join(lines))
    return [(m.group(1).upper(), m.group(2).strip()) for m in re.finditer(r"^\s*(\w+)\s+(.*)$", text, flags=re.M)]


def dockerfile_stages(path: Path) -> list[tuple[str, list[tuple[str, str]]]]:
    """(FROM arguments, the stage's instructions) for each stage, in order."""
    stages: list[tuple[str, list[tuple[str, str]]]] = []
    for instruction, args in dockerfile_instructions(path):
        if instruction == "FROM":
            stages.append((args, []))
        elif stages:
            stages[-1][1].append((instruction, args))
    return stages
