"""The operator on the harness's real node: create-to-Ready of one Storefront and a fan-out,
with every pod really started by the kubelet.

Method: ``storefront_harness.cluster`` starts the control plane and a node (containerd,
kubelet, kube-proxy, CoreDNS) with the local images imported; the operator runs as a pod from
its chart (``install_operator``, default values). One PostgreSQL pod and one standalone Redis
pod serve every Storefront; each Storefront gets a database of its own (``CREATE DATABASE``
through ``kubectl exec`` into the PostgreSQL pod) and the Secret with its URL, before the clock
starts. Timed: from the Storefront's creation until its status says Ready=True, which needs
the migration Job's pod to have run ``app.cli migrate`` and the app pod to pass its readiness
probe (``/ready``: database and Redis reachable).

The baseline is the bare Kubernetes sequence with the same objects: the migration Job and the
Deployment the operator made for a warm-up Storefront, copied without owner, status or
controller labels into a namespace that already holds their ConfigMaps, Secrets and
ServiceAccount; the Job is created, and once it completed the Deployment, timed until the
Deployment is available. Each Storefront and each bare pair lives in a namespace of its own
under the same name, so the copies need no renaming.

Needs root and the machine's one node (docs/node.md). On two cores the node comes up with the
operator, the datastores and the warm-up in about two minutes, and each round of the four
measurements with their teardowns holds it about three more.
"""

from __future__ import annotations

import base64
import itertools
import json
import sys
import time

from bench.context import Context
from bench.operator_ready import is_ready
from bench.report import Section, Table
from bench.services import ROOT
from bench.stats import Spread, percentile, ratios

sys.path.insert(0, str(ROOT / "hack"))
from storefront_harness.cluster import Cluster, build_node_images
from storefront_harness.platform import LOCAL_TAG, install_operator
from storefront_harness.polling import wait_for
from storefront_operator.kube import KINDS, Kube

HEADING = "Operator on a real node: create-to-Ready, fan-out"
FANOUT = 12
NAME = "shop"  # every Storefront and bare pair is called so, each in a namespace of its own
SELECTOR = f"app.kubernetes.io/instance={NAME}"
DATASTORES = "bench-datastores"
PG_USER = PG_PASSWORD = "bench"
REDIS_ADDRESS = f"redis.{DATASTORES}.svc:6379"


def _datastore(name: str, image: str, port: int, probe: list[str], volumes: tuple = (), **container) -> list[dict]:
    """A one-pod Deployment and its Service, no volume claim (the node has no storage)."""
    labels = {"app": name}
    pod = {"enableServiceLinks": False, "volumes": list(volumes), "containers": [{
        "name": name, "image": image, "imagePullPolicy": "Never", "ports": [{"containerPort": port}],
        "readinessProbe": {"exec": {"command": probe}, "periodSeconds": 2}, **container}]}
    return [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": DATASTORES},
             "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                      "template": {"metadata": {"labels": labels}, "spec": pod}}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": DATASTORES},
             "spec": {"selector": labels, "ports": [{"port": port, "targetPort": port}]}}]


DATASTORE_OBJECTS = [
    *_datastore("postgresql", "storefront-postgresql:15", 5432, ["pg_isready", "-h", "127.0.0.1"],
                args=["-c", "max_connections=300"],
                env=[{"name": "POSTGRES_USER", "value": PG_USER}, {"name": "POSTGRES_PASSWORD", "value": PG_PASSWORD},
                     {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"}],
                volumes=[{"name": "data", "emptyDir": {}}],
                volumeMounts=[{"name": "data", "mountPath": "/var/lib/postgresql/data"}]),
    *_datastore("redis", "storefront-redis:7", 6379, ["redis-cli", "ping"],
                command=["redis-server", "--protected-mode", "no", "--save", "", "--appendonly", "no"]),
]


def _storefront(namespace: str) -> dict:
    return {"apiVersion": "platform.storefront.dev/v1alpha1", "kind": "Storefront",
            "metadata": {"name": NAME, "namespace": namespace},
            "spec": {"image": f"storefront-app:{LOCAL_TAG}", "version": "1.0.0", "replicas": 1,
                     "database": {"secretRef": {"name": f"{NAME}-db"}},
                     "redis": {"mode": "standalone", "address": REDIS_ADDRESS}}}


def _bare(obj: dict, kind: str) -> dict:
    """``obj`` as one would write it: no owner, status or server-set metadata (nor namespace);
    a Job without the selector and labels the Job controller gives it."""
    body = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
    body.update(apiVersion=KINDS[kind][0], kind=kind,
                metadata={"name": obj["metadata"]["name"], "labels": obj["metadata"].get("labels", {})})
    if kind == "Job":
        spec = {k: v for k, v in obj["spec"].items() if k not in ("selector", "template")}
        template = obj["spec"]["template"]
        labels = {k: v for k, v in template["metadata"]["labels"].items()
                  if not k.endswith(("controller-uid", "job-name"))}
        body["spec"] = {**spec, "template": {"metadata": {"labels": labels}, "spec": template["spec"]}}
    return body


def _condition(obj: dict, type_: str) -> bool:
    return any(c["type"] == type_ and c["status"] == "True" for c in (obj.get("status") or {}).get("conditions") or [])


def _millicores(quantity: str) -> int:
    return int(quantity[:-1]) if quantity.endswith("m") else int(float(quantity) * 1000)


class NodeBench:
    def __init__(self, ctx: Context, cluster: Cluster):
        self.ctx = ctx
        self.cluster = cluster
        self.kube = Kube.from_kubeconfig(str(cluster.kubeconfig))
        self.databases = itertools.count()
        self.failure: str | None = None
        install_operator(cluster)
        self.kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": DATASTORES}})
        for obj in DATASTORE_OBJECTS:
            self.kube.create(obj)
        self._wait(lambda: all((self.kube.get("Deployment", DATASTORES, n).get("status") or {}).get("availableReplicas")
                               for n in ("postgresql", "redis")), 180, "PostgreSQL and Redis")
        # A warm-up Storefront: images and caches warm, and its Job and Deployment are the baseline's.
        warm = self.namespaces("warm", 1)
        ctx.log(f"operator-node: operator and datastores up; warm-up Storefront Ready in "
                f"{self.through_operator(warm)[0]:.1f}s")
        self.prerequisites = [_bare(o, kind) for kind in ("ServiceAccount", "ConfigMap", "Secret")
                              for o in self.kube.list(kind, warm[0], SELECTOR)]
        self.job = _bare(self.kube.list("Job", warm[0], SELECTOR)[0], "Job")
        self.deployment = _bare(self.kube.get("Deployment", warm[0], NAME), "Deployment")
        self.drop(warm)

    def _wait(self, check, timeout: float, what: str, interval: float = 0.25):
        return wait_for(check, timeout, interval, what, diagnostics=self.cluster.diagnostics,
                        give_up=lambda: self.failure)

    def namespaces(self, prefix: str, count: int) -> list[str]:
        """``count`` namespaces, each with a fresh database and the Secret ``shop-db`` with its URL."""
        names = [f"{prefix}-{i:02d}" for i in range(count)]
        dbs = [f"db{next(self.databases)}" for _ in names]
        self.cluster.kubectl("exec", "-n", DATASTORES, "deploy/postgresql", "--", "psql", "-U", PG_USER,
                             "-d", "postgres", "-v", "ON_ERROR_STOP=1",
                             *(arg for db in dbs for arg in ("-c", f"CREATE DATABASE {db}")))
        for ns, db in zip(names, dbs, strict=True):
            url = f"postgresql+asyncpg://{PG_USER}:{PG_PASSWORD}@postgresql.{DATASTORES}.svc:5432/{db}"
            self.kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            self.kube.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{NAME}-db", "namespace": ns},
                              "data": {"url": base64.b64encode(url.encode()).decode()}})
        return names

    def drop(self, namespaces: list[str]) -> None:
        """Deletes the namespaces and waits until their pods and Storefronts are gone (the
        kubelet's and the operator's part of the teardown), so it does not slow the next run
        down; the namespace controller finishes its bookkeeping later."""
        for ns in namespaces:
            self.kube.delete("Namespace", None, ns)
        self._wait(lambda: not any(o["metadata"]["namespace"] in namespaces
                                   for kind in ("Pod", "Storefront") for o in self.kube.list(kind, None)),
                   300, f"the pods of {len(namespaces)} namespaces to go", interval=1)

    # -- the two ways to the same pods -----------------------------------------------------------
    def through_operator(self, namespaces: list[str]) -> tuple[float, list[float]]:
        """Creates a Storefront in each namespace at once; (time until all Ready, each one's)."""
        created, ready = {}, {}
        start = time.monotonic()
        for ns in namespaces:
            self.kube.create(_storefront(ns))
            created[ns] = time.monotonic()

        def all_ready() -> bool:
            for sf in self.kube.list("Storefront", None):
                ns = sf["metadata"]["namespace"]
                conditions = {c["type"]: c for c in (sf.get("status") or {}).get("conditions") or []}
                if conditions.get("MigrationsSucceeded", {}).get("reason") == "MigrationFailed":
                    self.failure = f"{ns}: {conditions['MigrationsSucceeded']['message']}"
                if ns in created and ns not in ready and is_ready(sf):
                    ready[ns] = time.monotonic()
            return len(ready) == len(namespaces)

        self._wait(all_ready, 300, f"{len(namespaces)} Storefronts to be Ready")
        return time.monotonic() - start, [ready[ns] - created[ns] for ns in namespaces]

    def bare(self, namespaces: list[str]) -> tuple[float, list[float]]:
        """The Job in each namespace at once, each Deployment once its Job completed; (time
        until every Deployment is available, each pair's)."""
        for ns in namespaces:
            for obj in self.prerequisites:
                self.kube.create({**obj, "metadata": {**obj["metadata"], "namespace": ns}})
        created, deployed, available = {}, set(), {}
        start = time.monotonic()
        for ns in namespaces:
            self.kube.create({**self.job, "metadata": {**self.job["metadata"], "namespace": ns}})
            created[ns] = time.monotonic()

        def all_available() -> bool:
            for job in self.kube.list("Job", None, SELECTOR):
                ns = job["metadata"]["namespace"]
                if _condition(job, "Failed"):
                    self.failure = f"the bare migration Job in {ns} failed"
                if ns in created and ns not in deployed and _condition(job, "Complete"):
                    self.kube.create({**self.deployment, "metadata": {**self.deployment["metadata"], "namespace": ns}})
                    deployed.add(ns)
            for dep in self.kube.list("Deployment", None, SELECTOR):
                ns, status = dep["metadata"]["namespace"], dep.get("status") or {}
                if ns in created and ns not in available and status.get("availableReplicas", 0) >= dep["spec"]["replicas"]:
                    available[ns] = time.monotonic()
            return len(available) == len(namespaces)

        self._wait(all_available, 300, f"{len(namespaces)} bare Job + Deployment pairs")
        return time.monotonic() - start, [available[ns] - created[ns] for ns in namespaces]

    def measure(self, how: str, size: int, run: int) -> tuple[float, list[float]]:
        """One timed run, ``how`` being "bare" or "operator", in namespaces of its own."""
        namespaces = self.namespaces(f"{how}-{size}-{run}", size)
        try:
            return (self.bare if how == "bare" else self.through_operator)(namespaces)
        finally:
            started = time.monotonic()
            self.drop(namespaces)
            self.ctx.log(f"operator-node: {how} ×{size}: pods gone in {time.monotonic() - started:.0f}s")

    def capacity(self) -> dict:
        """The node's allocatable CPU and memory, and what one Storefront's pods ask for."""
        node = json.loads(self.cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"][0]
        requests = [c["resources"]["requests"] for o in (self.job, self.deployment)
                    for c in o["spec"]["template"]["spec"]["containers"]]
        return {"cpu": _millicores(node["status"]["allocatable"]["cpu"]),
                "memory_gib": int(node["status"]["allocatable"]["memory"].removesuffix("Ki")) / 2**20,
                "migrate_cpu": _millicores(requests[0]["cpu"]), "app_cpu": _millicores(requests[1]["cpu"]),
                "app_memory": requests[1]["memory"]}


def run(ctx: Context) -> Section:
    repeats = 1 if ctx.quick else ctx.repeats
    size = 3 if ctx.quick else FANOUT
    figures: dict[tuple[str, int], list[tuple[float, list[float]]]] = {}
    archive = build_node_images(ROOT)  # before the node's lock is taken: a rebuild can take minutes
    cluster = Cluster()
    started = time.monotonic()
    try:
        cluster.start([archive])
        ctx.log(f"operator-node: node up in {time.monotonic() - started:.0f}s")
        bench = NodeBench(ctx, cluster)
        for r in range(repeats):
            for n in (1, size):
                for how in (("bare", "operator") if r % 2 == 0 else ("operator", "bare")):
                    figures.setdefault((how, n), []).append(bench.measure(how, n, r))
            ctx.log(f"operator-node: repeat {r + 1}/{repeats}: " + ", ".join(
                f"{how} ×{n} {runs[-1][0]:.1f}s" for (how, n), runs in figures.items()))
        capacity = bench.capacity()
    finally:
        problems = cluster.destroy()
        ctx.log(f"operator-node: node held for {time.monotonic() - started:.0f}s"
                + (f"; it left behind: {problems}" if problems else ""))
    return _section(ctx, size, figures, capacity)


def _section(ctx: Context, size: int, figures: dict, capacity: dict) -> Section:
    def totals(how, n):
        return [total for total, _ in figures[how, n]]

    def per(how, n):
        flat = [x for _, each in figures[how, n] for x in each]
        return f"{percentile(flat, 50):.1f} / {percentile(flat, 95):.1f} / {max(flat):.1f}"

    section = Section("operator-node", HEADING, ctx.command("operator-node"))
    fmt = "{:.1f}"
    one, one_bare = totals("operator", 1), totals("bare", 1)
    many, many_bare = totals("operator", size), totals("bare", size)
    t = Table(f"Create-to-Ready with pods really running ({len(one)} runs; seconds, median (min–max))",
              ["what", "seconds", "ratio", "per Storefront p50 / p95 / max"])
    t.add("bare: migration Job, then Deployment (1 replica), created directly", Spread.of(one_bare).format(fmt),
          "baseline", "")
    t.add("one Storefront through the operator", Spread.of(one).format(fmt),
          f"{ratios(one, one_bare).format('{:.2f}', '×')} the bare pair", "")
    t.add(f"bare: {size} Job + Deployment pairs created at once, until all available",
          Spread.of(many_bare).format(fmt), "baseline", per("bare", size))
    t.add(f"{size} Storefronts created at once, until all Ready", Spread.of(many).format(fmt),
          f"{ratios(many, many_bare).format('{:.2f}', '×')} the {size} bare pairs", per("operator", size))
    section.tables.append(t)

    section.verdicts.append(("create-to-Ready of a Storefront on a real node",
                             f"{Spread.of(one).median:.1f} s ({ratios(one, one_bare).median:.2f}× the bare Job + "
                             f"Deployment); {size} at once: all Ready in {Spread.of(many).median:.1f} s "
                             f"({ratios(many, many_bare).median:.2f}× {size} bare pairs)", "measured"))
    c = capacity
    section.note(f"Each Storefront: image storefront-app:{LOCAL_TAG}, 1 replica, its own database in the one "
                 "PostgreSQL pod, Redis standalone at the one Redis pod; the operator runs as a pod from its chart "
                 "with default values (CPU limit included) and settings (resync 30 s). Every Storefront and every "
                 "bare pair is in a namespace of its own; databases and Secrets are made before the clock starts.")
    section.note(f"Why {size} and 1 replica, not 50 with 2: the node has {c['cpu']}m CPU and "
                 f"{c['memory_gib']:.1f} GiB allocatable; each Storefront's app pod requests {c['app_cpu']}m CPU "
                 f"and {c['app_memory']}, its migration pod {c['migrate_cpu']}m while it runs, so the scheduler "
                 f"places at most {c['cpu'] // c['app_cpu']} app pods of one replica (fewer beside the operator "
                 "and the migrations), and every pod start is a Python process importing the app on the same two "
                 f"cores: {size} at once already take {Spread.of(many).median / Spread.of(one).median:.1f}× one "
                 "Storefront's time.")
    section.note("The simulated kubelet stays in the section above for the 50-at-once fan-out and the broken "
                 "Storefront among 50: 50 platforms of 2 replicas would request 10 CPUs and start 150 Python "
                 "processes, which two cores cannot hold; there the operator's own work (its reconciles, its API "
                 "calls, its backoff for the broken one) is what is measured, with pods that become Ready at once.")
    return section
