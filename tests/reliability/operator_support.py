"""The real operator process for the restart suites: started, killed with SIGKILL, started again."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from storefront_harness.process import free_port, spawn, stop

REPO = Path(__file__).resolve().parents[2]


class OperatorProcess:
    def __init__(self, kubeconfig: Path, log: Path, **env: str):
        self.kubeconfig, self.log, self.env = kubeconfig, log, env
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self, timeout: float = 60) -> OperatorProcess:
        health = free_port()
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "STOREFRONT_OPERATOR_STANDALONE": "1",
               "STOREFRONT_OPERATOR_METRICS_PORT": "0", "STOREFRONT_OPERATOR_RESYNC_SECONDS": "2",
               "STOREFRONT_OPERATOR_LIVENESS_ENDPOINT": f"http://127.0.0.1:{health}/healthz", **self.env}
        self.proc = spawn([sys.executable, "-m", "storefront_operator"], self.log, env=env, cwd=REPO)
        self.starts += 1
        deadline = time.monotonic() + timeout
        while True:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{health}/healthz", timeout=1).status == 200:
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the operator did not start:\n{self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no finalizers, no last status write — a crash or an OOM kill."""
        stop(self.proc, signal.SIGKILL, timeout=10)
        self.proc = None

    def stop(self) -> None:
        stop(self.proc)
        self.proc = None


def storefront(namespace: str, name: str, **spec) -> list[dict]:
    """The database Secret and the Storefront, ready to create."""
    url = base64.b64encode(b"postgresql+asyncpg://u:p@db:5432/shop").decode()
    body = {"image": "example/storefront-api:1.0.0", "version": "1.0.0", "replicas": 1,
            "database": {"secretRef": {"name": f"{name}-db"}}, "redis": {"mode": "standalone", "address": "redis:6379"},
            **spec}
    return [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{name}-db", "namespace": namespace},
             "data": {"url": url}},
            {"apiVersion": "platform.storefront.dev/v1alpha1", "kind": "Storefront",
             "metadata": {"name": name, "namespace": namespace}, "spec": body}]


def condition(obj: dict, type_: str) -> dict:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == type_), {})
