"""The operator against a real API server: create-to-Ready of one Storefront, 50 created at
once, a broken one among 50, and the memory of the operator process.

Method: the harness's etcd + kube-apiserver + kube-controller-manager on loopback, the real
operator process (``python -m storefront_operator``, standalone, default settings), and a
simulated kubelet (``bench.kubelet_sim``) that marks pods Running/Ready and migration pods
Succeeded through the status subresource — the only part that is not the real thing, since
there are no nodes. The baseline is the same sequence without the operator: a Job and then
a Deployment of the same shape created directly, timed until the Job completed and the
Deployment is available. Memory is compared with a minimal Kopf operator watching the same
resource types (``bench.kopf_minimal``).
"""

from __future__ import annotations

import base64
import os
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from bench.context import Context
from bench.kubelet_sim import SimulatedKubelet
from bench.report import Section, Table
from bench.services import PY, ROOT, Workdir
from bench.stats import Spread, percentile, ratios

sys.path.insert(0, str(ROOT / "hack"))
from storefront_harness import ControlPlane
from storefront_harness.polling import wait_for
from storefront_harness.process import free_port, spawn

HEADING = "Operator: create-to-Ready, 50 at once, a broken one, memory"
BATCH = 50
REPLICAS = 2
CRDS = ROOT / "k8s" / "crds"


def _rss_mib(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) in MiB from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def _storefront(namespace: str, name: str, broken: bool = False) -> dict:
    spec = {"image": "example/storefront-api:1.0.0", "version": "1.0.0", "replicas": REPLICAS,
            "database": {"secretRef": {"name": f"{name}-db"}},
            "redis": {"mode": "standalone", "address": "redis:6379"}}
    if broken:
        spec["migrations"] = {"backoffLimit": 0}
    return {"apiVersion": "platform.storefront.dev/v1alpha1", "kind": "Storefront",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def _db_secret(namespace: str, name: str) -> dict:
    url = base64.b64encode(b"postgresql+asyncpg://u:p@db:5432/shop").decode()
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{name}-db", "namespace": namespace},
            "data": {"url": url}}


def is_ready(obj: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in (obj.get("status") or {}).get("conditions") or [])


class Bench:
    def __init__(self, ctx: Context, work: Workdir):
        from storefront_operator.kube import Kube

        self.ctx = ctx
        self.plane = ControlPlane(work.path / "kube").start()
        work.stack.callback(self.plane.destroy)
        self.plane.kubectl("apply", "--server-side", "-f", str(CRDS))
        self.plane.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                           "crd/storefronts.platform.storefront.dev")
        self.kube = Kube.from_kubeconfig(str(self.plane.kubeconfig))
        self.kubelet = SimulatedKubelet(self.kube, revision="0004_outbox_webhooks")
        self.kubelet.start()
        work.stack.callback(self.kubelet.stop)
        env = {**os.environ, "KUBECONFIG": str(self.plane.kubeconfig), "PYTHONPATH": str(ROOT)}
        health = free_port()
        self.operator = spawn([PY, "-m", "storefront_operator"], work.path / "operator.log", cwd=ROOT, env={
            **env, "STOREFRONT_OPERATOR_STANDALONE": "1", "STOREFRONT_OPERATOR_METRICS_PORT": str(free_port()),
            "STOREFRONT_OPERATOR_LIVENESS_ENDPOINT": f"http://127.0.0.1:{health}/healthz"})
        work.stack.callback(self.operator.terminate)
        self.minimal = spawn([PY, "-m", "kopf", "run", "--standalone", "--all-namespaces", "--quiet",
                              str(ROOT / "bench" / "kopf_minimal.py")], work.path / "kopf-minimal.log", cwd=ROOT, env=env)
        work.stack.callback(self.minimal.terminate)
        self._wait(lambda: urllib.request.urlopen(f"http://127.0.0.1:{health}/healthz", timeout=1).status == 200,
                   60, "the operator's liveness endpoint")
        time.sleep(3)  # both operators settle after their initial listing
        self.memory = {"idle": (_rss_mib(self.operator.pid), _rss_mib(self.minimal.pid))}

    def _wait(self, check, timeout: float, what: str, interval: float = 0.1):
        return wait_for(check, timeout, interval, what, give_up=self._operator_exited)

    def _operator_exited(self) -> str | None:
        code = self.operator.poll()
        return None if code is None else f"the operator exited with {code}"

    def namespace(self, prefix: str) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        self.plane.kubectl("create", "namespace", name)
        self._wait(lambda: self.kube.get("ServiceAccount", name, "default"), 30, "the default ServiceAccount")
        self.kubelet.watch(name)
        return name

    def drop(self, namespace: str) -> None:
        """Deletes the namespace and waits until it is gone, so the garbage collection of one
        batch does not slow the next one down."""
        self.kubelet.namespaces.discard(namespace)
        self.plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        self._wait(lambda: self.kube.get("Namespace", None, namespace) is None, 180, f"namespace {namespace} to go",
                   interval=0.5)

    # -- the baseline: the same objects without the operator ---------------------------------------
    def floor(self) -> float:
        ns = self.namespace("floor")
        labels = {"app.kubernetes.io/instance": "floor"}
        pod = {"metadata": {"labels": labels}, "spec": {"restartPolicy": "Never", "containers": [
            {"name": "migrate", "image": "example/storefront-api:1.0.0"}]}}
        start = time.monotonic()
        self.kube.create({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate", "namespace": ns},
                          "spec": {"backoffLimit": 0, "template": pod}})
        self._wait(lambda: any(c["type"] == "Complete" and c["status"] == "True"
                               for c in (self.kube.get("Job", ns, "migrate").get("status") or {}).get("conditions") or []),
                   60, "the baseline Job")
        self.kube.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app", "namespace": ns},
                          "spec": {"replicas": REPLICAS, "selector": {"matchLabels": labels}, "template": {
                              "metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "api", "image": "example/storefront-api:1.0.0"}]}}}})
        self._wait(lambda: (self.kube.get("Deployment", ns, "app").get("status") or {}).get("availableReplicas") == REPLICAS,
                   60, "the baseline Deployment")
        elapsed = time.monotonic() - start
        self.drop(ns)
        return elapsed

    # -- through the operator ----------------------------------------------------------------------
    def batch(self, size: int, broken: int = 0) -> tuple[float, list[float], dict]:
        """Creates ``size`` Storefronts at once (``broken`` of them with a failing migration);
        returns (time until every healthy one is Ready, per-Storefront create-to-Ready, broken status)."""
        ns = self.namespace("batch" if size > 1 else "single")
        names = [f"shop-{i:02d}" for i in range(size)]
        bad = set(names[:broken])
        self.kubelet.broken_instances |= {(ns, name) for name in bad}
        for name in names:
            self.kube.create(_db_secret(ns, name))
        created: dict[str, float] = {}
        start = time.monotonic()
        for name in names:
            self.kube.create(_storefront(ns, name, broken=name in bad))
            created[name] = time.monotonic()
        ready_at: dict[str, float] = {}

        def all_healthy_ready() -> bool:
            for item in self.kube.list("Storefront", ns):
                name = item["metadata"]["name"]
                if name not in ready_at and is_ready(item):
                    ready_at[name] = time.monotonic()
            return all(n in ready_at for n in names if n not in bad)

        self._wait(all_healthy_ready, 600, f"{size - broken} Storefronts to be Ready", interval=0.1)
        total = time.monotonic() - start
        per = [ready_at[n] - created[n] for n in names if n not in bad]
        broken_status = {}
        for name in bad:
            def failed_reported(n=name):
                obj = self.kube.get("Storefront", ns, n)
                conds = {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}
                return conds if conds.get("MigrationsSucceeded", {}).get("reason") == "MigrationFailed" else None
            conds = self._wait(failed_reported, 60, f"{name} to report its failed migration")
            broken_status = {"ready": conds["Ready"]["status"], "reason": conds["MigrationsSucceeded"]["reason"],
                             "message": conds["MigrationsSucceeded"]["message"]}
        self.memory[f"after {size}"] = (_rss_mib(self.operator.pid), _rss_mib(self.minimal.pid))
        self.drop(ns)
        return total, per, broken_status


def run(ctx: Context) -> Section:
    repeats = 1 if ctx.quick else ctx.repeats
    size = 10 if ctx.quick else BATCH
    floors, singles, clean, clean_per, mixed, mixed_per, broken = [], [], [], [], [], [], {}
    with Workdir("operator") as work:
        bench = Bench(ctx, work)
        for r in range(repeats):
            floors.append(bench.floor())
            singles.append(bench.batch(1)[0])
            for with_broken in ((False, True) if r % 2 == 0 else (True, False)):  # alternate which goes first
                total, per, status = bench.batch(size, broken=1 if with_broken else 0)
                (mixed if with_broken else clean).append(total)
                (mixed_per if with_broken else clean_per).append(per)
                broken = status or broken
            ctx.log(f"operator: repeat {r + 1}/{repeats}: floor {floors[-1]:.1f}s, one {singles[-1]:.1f}s, "
                    f"{size} at once {clean[-1]:.1f}s, {size - 1} beside a broken one {mixed[-1]:.1f}s")
        memory = dict(bench.memory)
        memory["end"] = (_rss_mib(bench.operator.pid), _rss_mib(bench.minimal.pid))
    return _section(ctx, size, floors, singles, clean, clean_per, mixed, mixed_per, broken, memory)


def _section(ctx, size, floors, singles, clean, clean_per, mixed, mixed_per, broken, memory) -> Section:
    section = Section("operator", HEADING, ctx.command("operator"))
    fmt = "{:.1f}"
    t = Table(f"Create-to-Ready against a real API server ({len(floors)} runs; seconds, median (min–max))",
              ["what", "seconds", "ratio", "per Storefront p50 / p95 / max"])
    t.add("floor: migration Job, then Deployment (2 replicas), created directly", Spread.of(floors).format(fmt),
          "baseline", "")
    t.add("one Storefront through the operator", Spread.of(singles).format(fmt),
          f"{ratios(singles, floors).percent()} of the floor", "")
    flat = [x for run in clean_per for x in run]
    t.add(f"{size} Storefronts created at once, until all Ready", Spread.of(clean).format(fmt),
          f"{ratios(clean, singles).format('{:.1f}', '×')} one Storefront",
          f"{percentile(flat, 50):.1f} / {percentile(flat, 95):.1f} / {max(flat):.1f}")
    flat = [x for run in mixed_per for x in run]
    t.add(f"{size - 1} healthy beside 1 with a failing migration, until the {size - 1} are Ready",
          Spread.of(mixed).format(fmt), f"{ratios(mixed, clean).percent()} of the clean batch",
          f"{percentile(flat, 50):.1f} / {percentile(flat, 95):.1f} / {max(flat):.1f}")
    section.tables.append(t)

    m = Table("Memory (RSS, MiB) of the operator and of a minimal Kopf operator watching the same resource types",
              ["moment", "operator", "minimal Kopf", "ratio"])
    for moment, ((op_rss, _), (min_rss, _)) in memory.items():
        m.add(moment if moment != "after 1" else "after one Storefront", f"{op_rss:.0f}", f"{min_rss:.0f}",
              f"{op_rss / min_rss:.2f}×")
    (_, op_peak), (_, min_peak) = memory["end"]
    m.add("peak over the run", f"{op_peak:.0f}", f"{min_peak:.0f}", f"{op_peak / min_peak:.2f}×")
    section.tables.append(m)

    slowdown = Spread.of(mixed).median / Spread.of(clean).median
    section.verdicts.append(("create-to-Ready of a Storefront on a real API server",
                             f"{Spread.of(singles).median:.1f} s ({ratios(singles, floors).median:.1f}× the floor); "
                             f"{size} at once: all Ready in {Spread.of(clean).median:.1f} s", "measured"))
    section.verdicts.append(("a broken Storefront does not stall the others",
                             f"{size - 1} healthy Ready in {slowdown:.0%} of a clean batch's time",
                             "met" if slowdown < 1.25 and broken.get("ready") == "False" else "NOT met"))
    section.note(f"A broken Storefront does not stall the others: the {size - 1} healthy ones became Ready in "
                 f"{slowdown:.0%} of the clean batch's time, while the broken one reported "
                 f"Ready={broken.get('ready')} with MigrationsSucceeded reason {broken.get('reason')} "
                 f"(\"{broken.get('message', '')[:120]}\").")
    section.note("All Storefronts use the default operator settings (resync 30 s) and 2 replicas; the operator "
                 "runs standalone (no peering) with the controller manager's real Job, ReplicaSet and Deployment "
                 "controllers; only the kubelet is simulated.")
    return section
