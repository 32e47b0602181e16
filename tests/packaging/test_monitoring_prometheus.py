"""The dashboards and alerts against a real Prometheus (built from the module promtool comes
from): it scrapes the API, the worker and the operator run as processes on loopback, a little
real traffic goes through them (logins, an order, a webhook delivery, a Storefront reconciled),
and then every query of every dashboard panel returns data and every alert rule evaluates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
import yaml
from packaging_support import OPERATOR_CHART, PLATFORM_CHART, REPO
from stack_support import Stack, WebhookReceiver

from storefront_harness.polling import wait_for
from storefront_harness.process import free_port, spawn, stop
from storefront_harness.tools import tool

pytestmark = [pytest.mark.kube, pytest.mark.slow, pytest.mark.tools("prometheus")]

DASHBOARDS = sorted([*PLATFORM_CHART.glob("files/dashboards/*.json"), *OPERATOR_CHART.glob("files/dashboards/*.json")])
RULE_FILES = sorted([*PLATFORM_CHART.glob("files/alerts/*.rules.yaml"), *OPERATOR_CHART.glob("files/alerts/*.rules.yaml")])
SCRAPE_INTERVAL = "1s"
# What Grafana would put in the dashboards' variables: the namespace the scrape config labels
# the app's series with, and a rate window of a few scrape intervals (Grafana's rule: at least
# four of them).
NAMESPACE = "shop"
VARIABLES = {"$__rate_interval": "10s", "$namespace": NAMESPACE}


class Prometheus:
    def __init__(self, workdir: Path, config: dict):
        self.port = free_port()
        self.log = workdir / "prometheus.log"
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.proc = spawn([tool("prometheus"), f"--config.file={workdir / 'prometheus.yml'}",
                           f"--storage.tsdb.path={workdir / 'tsdb'}", f"--web.listen-address=127.0.0.1:{self.port}",
                           "--storage.tsdb.retention.time=1h", "--log.level=info"], self.log)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, **params: str) -> dict:
        r = httpx.get(f"{self.url}{path}", params=params, timeout=10)
        assert r.status_code == 200, f"{path} {params}: {r.status_code} {r.text[:500]}"
        body = r.json()
        assert body["status"] == "success", body
        return body["data"]

    def diagnostics(self) -> str:
        try:
            targets = json.dumps([{k: t.get(k) for k in ("scrapeUrl", "health", "lastError")}
                                  for t in self.get("/api/v1/targets")["activeTargets"]], indent=1)
        except Exception as exc:  # noqa: BLE001 - diagnostics of a failure: say why they are missing
            targets = f"(targets unavailable: {exc!r})"
        return f"targets: {targets}\n--- prometheus log\n{self.log.read_text(errors='replace')[-4000:]}"

    def stop(self) -> None:
        stop(self.proc)


def _start_operator(workdir: Path, kubeconfig: Path, namespace: str) -> tuple[subprocess.Popen, int]:
    """The operator process, watching only the test's namespace (other tests' Storefronts are
    not its business) and without peering (it is alone there)."""
    health_port, metrics_port = free_port(), free_port()
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "STOREFRONT_OPERATOR_RESYNC_SECONDS": "2",
           "STOREFRONT_OPERATOR_NAMESPACES": namespace, "STOREFRONT_OPERATOR_STANDALONE": "true",
           "STOREFRONT_OPERATOR_LIVENESS_ENDPOINT": f"http://127.0.0.1:{health_port}/healthz",
           "STOREFRONT_OPERATOR_METRICS_PORT": str(metrics_port)}
    proc = spawn([sys.executable, "-m", "storefront_operator"], workdir / "operator.log", env=env, cwd=REPO)
    return proc, metrics_port


def _panel_queries() -> list[tuple[str, str, str]]:
    queries = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"]
                for variable, value in VARIABLES.items():
                    expr = expr.replace(variable, value)
                assert "$" not in expr, f"{path.name} {panel['title']}: a variable left in {expr}"
                queries.append((path.name, panel["title"], expr))
    return queries


class ReadinessProbe:
    """Asks the API's /ready every second, as the kubelet's readiness probe does."""

    def __init__(self, url: str):
        self.url, self.stopped = url, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stopped.wait(1):
            try:
                httpx.get(self.url, timeout=2)
            except httpx.HTTPError:
                pass

    def __enter__(self) -> ReadinessProbe:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(5)


def _traffic(stack: Stack, receiver: WebhookReceiver) -> None:
    """Logins that succeed, fail and are rate-limited, a sign-up, catalog reads (cache misses and
    hits), an order, and its webhook delivered by the worker."""
    product, email, customer = stack.shop_with_webhook(receiver, "Scraped", "4.00", 5)
    for _ in range(3):
        assert httpx.get(f"{stack.api}/products/{product}").status_code == 200
        assert httpx.get(f"{stack.api}/products").status_code == 200
    stack.place_order(product, customer)
    assert httpx.get(f"{stack.api}/products/{uuid.uuid4()}").status_code == 404
    statuses = [stack.login(email, "not the password").status_code for _ in range(8)]
    assert 401 in statuses and 429 in statuses, statuses
    wait_for(lambda: receiver.received, 60, message="the webhook delivery", diagnostics=stack.logs)


def test_every_dashboard_panel_has_data_and_every_rule_evaluates(
        storefront_crds, database_factory, redis_server, postgres_server, namespace, tmp_path):
    control_plane = storefront_crds
    database_url = database_factory()
    # Login attempts past the sixth a minute from one address are refused (429).
    with WebhookReceiver() as receiver, Stack(database_url, redis_server.url, tmp_path,
                                              STOREFRONT_RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE="6") as stack:
        operator, operator_metrics = _start_operator(tmp_path, control_plane.kubeconfig, namespace)
        prometheus = None
        probe = ReadinessProbe(f"{stack.api}/ready").__enter__()
        try:
            prometheus = Prometheus(tmp_path, {
                "global": {"scrape_interval": SCRAPE_INTERVAL, "scrape_timeout": SCRAPE_INTERVAL,
                           "evaluation_interval": SCRAPE_INTERVAL},
                "rule_files": [str(p) for p in RULE_FILES],
                "scrape_configs": [
                    # The labels the PodMonitors' targets carry in a cluster.
                    {"job_name": "storefront-api", "static_configs": [{
                        "targets": [f"127.0.0.1:{stack.api_port}"], "labels": {"namespace": NAMESPACE, "pod": "api-0"}}]},
                    {"job_name": "storefront-worker", "static_configs": [{
                        "targets": [f"127.0.0.1:{stack.worker_port}"], "labels": {"namespace": NAMESPACE, "pod": "worker-0"}}]},
                    # Like the operator chart's ServiceMonitor: the Storefronts' own namespace label is kept.
                    {"job_name": "storefront-operator", "honor_labels": True, "static_configs": [{
                        "targets": [f"127.0.0.1:{operator_metrics}"], "labels": {"namespace": "storefront-system"}}]},
                ],
            })
            wait_for(lambda: httpx.get(f"{prometheus.url}/-/ready", timeout=2).status_code == 200, 60,
                     message="Prometheus ready", diagnostics=prometheus.diagnostics)
            control_plane.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([
                {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "shop-db", "namespace": namespace},
                 "stringData": {"url": "postgresql+asyncpg://u:p@db:5432/shop"}},
                {"apiVersion": "platform.storefront.dev/v1alpha1", "kind": "Storefront",
                 "metadata": {"name": "shop", "namespace": namespace},
                 "spec": {"image": "example/storefront-api:1.0.0", "version": "1.0.0",
                          "database": {"secretRef": {"name": "shop-db"}},
                          "redis": {"mode": "standalone", "address": "redis:6379"}}}]))
            _traffic(stack, receiver)
            # The fault: a table gone under the running API turns a catalog read into a 500.
            postgres_server.psql("ALTER TABLE products RENAME TO products_away", database_url.rsplit("/", 1)[1])
            try:
                assert httpx.get(f"{stack.api}/products/{uuid.uuid4()}").status_code == 500
            finally:
                postgres_server.psql("ALTER TABLE products_away RENAME TO products", database_url.rsplit("/", 1)[1])
            started = time.monotonic()

            def empty_panels() -> list[str]:
                missing = []
                for dashboard, title, expr in _panel_queries():
                    if not prometheus.get("/api/v1/query", query=expr)["result"]:
                        missing.append(f"{dashboard} / {title}: {expr}")
                return missing

            try:
                wait_for(lambda: not empty_panels(), 60, interval=1, message="every dashboard query to return data")
            except AssertionError:
                exported = httpx.get(f"{stack.api}/metrics").text + httpx.get(f"{stack.worker_url}/metrics").text
                raise AssertionError("queries without data:\n" + "\n".join(empty_panels()) + "\n"
                                     + prometheus.diagnostics() + "\n" + stack.logs() + "\n--- exported:\n"
                                     + "\n".join(line for line in exported.splitlines() if line.startswith("storefront_"))
                                     ) from None
            def rule_health() -> list[dict]:
                rules = [rule for group in prometheus.get("/api/v1/rules")["groups"] for rule in group["rules"]]
                return rules if rules and all(r["lastEvaluation"] > "1970" for r in rules) else []

            rules = wait_for(rule_health, 30, interval=1, message="every rule evaluated",
                             diagnostics=prometheus.diagnostics)
            expected = {rule.get("alert") or rule.get("record") for path in RULE_FILES
                        for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]}
            assert {r["name"] for r in rules} == expected
            assert [(r["name"], r["health"], r.get("lastError")) for r in rules if r["health"] != "ok"] == []
            print(f"dashboards and rules checked {time.monotonic() - started:.1f}s after the traffic")
        finally:
            probe.__exit__()
            if prometheus is not None:
                prometheus.stop()
            # Deleted while the operator runs, so it takes its finalizer off and the namespace can go.
            control_plane.kubectl("delete", "storefront", "shop", "-n", namespace, "--ignore-not-found",
                                  "--timeout=30s", check=False)
            stop(operator)
