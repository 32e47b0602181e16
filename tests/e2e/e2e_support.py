"""What the end-to-end tests do to the cluster: kubectl and helm with its kubeconfig, bounded
waits that print the cluster's state when they give up, and HTTP to Service addresses."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from storefront_harness.cluster import Cluster
from storefront_harness.platform import LOCAL_TAG, OPERATOR_NAMESPACE, REPO, helm
from storefront_harness.polling import wait_for

E2E_VALUES = Path(__file__).with_name("values-e2e.yaml")


def tool_version(name: str) -> str:
    """A version pinned in hack/tools.env (the image tags that follow them)."""
    for line in (REPO / "hack" / "tools.env").read_text().splitlines():
        if line.startswith(f"{name}="):
            return line.split("=", 1)[1].strip()
    raise KeyError(f"{name} is not pinned in hack/tools.env")


# The tags hack/build-node-images.sh gives the images it builds.
APP_IMAGE = f"storefront-app:{LOCAL_TAG}"
OPERATOR_IMAGE = f"storefront-operator:{LOCAL_TAG}"
BROKEN_MIGRATION_IMAGE = f"storefront-app:{LOCAL_TAG}-broken-migration"
TRAEFIK_IMAGE = f"storefront-traefik:{tool_version('TRAEFIK_VERSION')}"


@dataclass(frozen=True)
class Platform:
    namespace: str
    name: str


class E2E:
    def __init__(self, cluster: Cluster):
        self.cluster = cluster

    # -- commands ----------------------------------------------------------------------
    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        return self.cluster.kubectl(*args, input=input, check=check)

    def helm(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        return helm(self.cluster, *args, check=check, timeout=timeout)

    def get(self, *args: str) -> dict[str, Any] | None:
        r = self.kubectl("get", *args, "-o", "json", check=False)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def items(self, *args: str) -> list[dict[str, Any]]:
        return (self.get(*args) or {}).get("items", [])

    # -- waiting -----------------------------------------------------------------------
    def wait(self, probe, message: str, timeout: float = 180, interval: float = 1.0, namespace: str | None = None):
        return wait_for(probe, timeout, interval=interval, message=message,
                        diagnostics=lambda: self.state(namespace))

    def state(self, namespace: str | None = None) -> str:
        """Pods, events, Storefronts and the operator's log: what explains a wait that failed."""
        out = []
        scope = ["-n", namespace] if namespace else ["-A"]
        for args in (("get", "pods", *scope, "-o", "wide"), ("get", "storefronts", *scope, "-o", "yaml"),
                     ("get", "events", *scope, "--sort-by=.lastTimestamp")):
            r = self.kubectl(*args, check=False)
            out.append(f"--- kubectl {' '.join(args)} ---\n{r.stdout[-5000:]}{r.stderr[-500:]}")
        r = self.kubectl("logs", "-n", OPERATOR_NAMESPACE, "-l", "app.kubernetes.io/name=storefront-operator",
                         "--tail=60", check=False)
        out.append(f"--- operator log ---\n{r.stdout[-6000:]}{r.stderr[-500:]}")
        return "\n".join(out)

    def condition(self, namespace: str, name: str, kind: str = "storefront") -> dict[str, dict[str, Any]]:
        obj = self.get(kind, name, "-n", namespace) or {}
        return {c["type"]: c for c in obj.get("status", {}).get("conditions", [])}

    def wait_condition(self, namespace: str, name: str, type_: str, status: str = "True",
                       reason: str | None = None, timeout: float = 300) -> dict[str, Any]:
        def check():
            c = self.condition(namespace, name).get(type_)
            if c and c["status"] == status and (reason is None or c["reason"] == reason):
                return c
            return None
        return self.wait(check, f"Storefront {namespace}/{name} {type_}={status}"
                         + (f" ({reason})" if reason else ""), timeout=timeout, namespace=namespace)

    def pod_logs(self, namespace: str, selector: str, tail: int = 80) -> str:
        r = self.kubectl("logs", "-n", namespace, "-l", selector, f"--tail={tail}", "--prefix", check=False)
        return r.stdout + r.stderr

    # -- traffic -----------------------------------------------------------------------
    def service_url(self, namespace: str, service: str) -> str:
        svc = self.get("service", service, "-n", namespace)
        assert svc, f"no Service {namespace}/{service}"
        port = svc["spec"]["ports"][0]["port"]
        return f"http://{svc['spec']['clusterIP']}:{port}"

    def client(self, namespace: str, service: str, timeout: float = 10) -> httpx.Client:
        return httpx.Client(base_url=self.service_url(namespace, service), timeout=timeout)
