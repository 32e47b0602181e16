#!/usr/bin/env python3
"""Runs the platform on this machine: the API and a worker with their own PostgreSQL and Redis
on loopback.

    make run                 # API on http://127.0.0.1:8000 (docs at /docs), worker on :8081
    make run-operator        # plus a one-node Kubernetes cluster running the operator and a
                             # Storefront with its PostgreSQL and Redis cluster, all as pods
                             # from locally built images (as root; otherwise a control plane
                             # with no node and the operator as a local process)

Everything lives in a temporary directory and is stopped on Ctrl-C; the directory is removed
then (it holds the signing keys), kept with --keep or when the start failed. The seeded admin's
credentials are printed at start (override with STOREFRONT_ADMIN_EMAIL / _PASSWORD).
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
API_START_SECONDS = 120
sys.path.insert(0, str(ROOT / "hack"))

from storefront_harness import ControlPlane, PostgresServer, RedisServer  # noqa: E402
from storefront_harness.cluster import Cluster, build_node_images  # noqa: E402
from storefront_harness.platform import install_operator, install_platform  # noqa: E402
from storefront_harness.process import free_port, port_open, spawn, stop  # noqa: E402
from storefront_harness.signals import StopRequested, raise_on_stop_signals  # noqa: E402
from storefront_harness.tools import tools_dir  # noqa: E402

PY = sys.executable


def say(msg: str) -> None:
    print(f"[run] {msg}", flush=True)


class StartFailed(Exception):
    pass


def run_cli(env: dict[str, str], *args: str, hint: str = "") -> None:
    """The app's own CLI; it prints why it failed, so a failure adds one line and no traceback."""
    result = subprocess.run([PY, "-m", "app.cli", *args], env=env, cwd=ROOT, check=False)
    if result.returncode != 0:
        raise StartFailed(f"`app.cli {args[0]}` failed (exit code {result.returncode}, its message is above){hint}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=int(os.environ.get("STOREFRONT_PORT", "8000")))
    parser.add_argument("--worker-port", type=int, default=int(os.environ.get("STOREFRONT_WORKER_PORT", "8081")),
                        help="the worker's /health, /ready and /metrics (another free port when this one is taken)")
    parser.add_argument("--with-operator", action="store_true", help="also run the operator against a local control plane")
    parser.add_argument("--exit-after-start", action="store_true", help="start everything, check it answers, then stop (for tests)")
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (logs, keyset) after it stops")
    args = parser.parse_args()

    if port_open(args.port):
        say(f"port {args.port} is already in use; pass --port or set STOREFRONT_PORT")
        return 2

    work = Path(tempfile.mkdtemp(prefix="storefront-run-"))
    # PostgreSQL runs as the postgres user when we are root: it must be able to reach its directory.
    work.chmod(0o711)
    # SIGTERM (a process manager, `timeout`, a container runtime) stops everything like Ctrl-C.
    raise_on_stop_signals()
    code = 1
    try:
        code = run(args, work)
    except StopRequested as stopped:
        say(f"{stopped}: stopping")
        code = 0
    except StartFailed as failed:
        say(f"could not start: {failed}")
        code = 1
    finally:
        # The directory holds a private signing key: it goes, however the run ended, unless asked for.
        if args.keep:
            say(f"kept {work} (logs, keyset)")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return code



def run(args: argparse.Namespace, work: Path) -> int:
    pg: PostgresServer | None = None
    redis: RedisServer | None = None
    plane: ControlPlane | None = None
    cluster: Cluster | None = None
    platform_ready = False
    procs: list[subprocess.Popen] = []
    try:
        pg = PostgresServer(work / "postgres").start()
        redis = RedisServer(work / "redis").start()
        database_url = pg.create_database("storefront")
        keyset = work / "keyset.json"
        admin_email = os.environ.get("STOREFRONT_ADMIN_EMAIL", "admin@storefront.local")
        admin_password = os.environ.get("STOREFRONT_ADMIN_PASSWORD") or secrets.token_urlsafe(18)
        env = {
            **os.environ,
            "STOREFRONT_ENVIRONMENT": "development",
            "STOREFRONT_DATABASE_URL": database_url,
            "STOREFRONT_REDIS_URL": redis.url,
            "STOREFRONT_JWT_KEYSET_FILE": str(keyset),
            "STOREFRONT_PII_ENCRYPTION_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "STOREFRONT_BLIND_INDEX_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            # Webhook receivers of a local run are usually on this machine.
            "STOREFRONT_WEBHOOK_ALLOW_PRIVATE_TARGETS": os.environ.get("STOREFRONT_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"),
        }
        say("migrating the database")
        run_cli(env, "migrate")
        say("generating a JWT keyset")
        run_cli(env, "keyset", "generate", "--out", str(keyset))
        # Through the environment: an argument shows in ps, and a generated password may start
        # with "-", which argparse would take for an option.
        run_cli({**env, "STOREFRONT_SEED_ADMIN_PASSWORD": admin_password},
                "create-admin", "--email", admin_email, "--name", "Local Admin",
                hint="; choose STOREFRONT_ADMIN_EMAIL / STOREFRONT_ADMIN_PASSWORD the admin policy accepts,"
                     " or leave the password unset for a generated one")

        api = spawn([PY, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(args.port)],
                    work / "api.log", env=env, cwd=ROOT)
        procs.append(api)
        # A bound, not a wait: it ends as soon as the port opens or the process dies. Importing
        # the app takes seconds of CPU, which a busy machine can stretch to a minute.
        deadline = time.monotonic() + API_START_SECONDS
        while not port_open(args.port):
            if api.poll() is not None or time.monotonic() > deadline:
                say("the API did not start; the end of its log:")
                print((work / "api.log").read_text()[-3000:])
                return 1
            time.sleep(0.2)

        worker_port = args.worker_port if not port_open(args.worker_port) else free_port()
        procs.append(spawn([PY, "-m", "app.worker", "--host", "127.0.0.1", "--port", str(worker_port)],
                           work / "worker.log", env=env, cwd=ROOT))

        if args.with_operator and os.geteuid() == 0:
            cluster, platform_ready = run_platform_on_node()
        elif args.with_operator:
            say("a node needs root: running the operator against a control plane without one instead")
            plane = run_operator(work, procs, database_url, redis)

        say(f"API:      http://127.0.0.1:{args.port}  (docs: /docs, readiness: /ready)")
        say(f"worker:   http://127.0.0.1:{worker_port}  (/health, /ready, /metrics; events, webhooks, order expiry)")
        say(f"admin:    {admin_email} / {admin_password}")
        say(f"logs:     {work}/*.log")
        if plane:
            say(f"cluster:  export KUBECONFIG={plane.kubeconfig} PATH={tools_dir()}:$PATH; kubectl get sf -w")
        if cluster:
            say(f"cluster:  export KUBECONFIG={cluster.kubeconfig} PATH={tools_dir()}:$PATH; kubectl get pods -A")
            say(f"platform: {service_url(cluster)}  (the Storefront's Service, reachable from this machine)")
        if args.exit_after_start:
            if cluster and not platform_ready:
                return 1
            status, body = wait_ready(args.port)
            say(f"/ready answered {status}")
            if status != 200:
                print(body[-2000:])
                print((work / "api.log").read_text()[-3000:])
                return 1
            status, body = wait_ready(worker_port)
            say(f"worker /ready answered {status}")
            if status != 200:
                print(body[-2000:])
                print((work / "worker.log").read_text(errors="replace")[-3000:])
                return 1
            return 0
        say("Ctrl-C stops everything")
        return watch(procs, work)
    finally:
        for p in reversed(procs):
            stop(p)
        if cluster:
            problems = cluster.destroy()
            if problems:
                say(f"could not undo everything the node changed: {problems}")
        if plane:
            plane.destroy()
        if redis:
            redis.destroy()
        if pg:
            pg.destroy()


def watch(procs: list[subprocess.Popen], work: Path) -> int:
    """Until a signal stops the run (StopRequested): a process that dies ends it, with its log."""
    while True:
        for proc in procs:
            if proc.poll() is not None:
                say(f"{' '.join(map(str, proc.args[:4]))} exited with code {proc.returncode}; stopping the rest")
                for path in sorted(work.glob("*.log")):
                    print(f"--- {path.name} ---\n{path.read_text(errors='replace')[-1500:]}")
                return 1
        time.sleep(0.5)


def wait_ready(port: int, timeout: float = API_START_SECONDS) -> tuple[int, str]:
    """Polls /ready as a readiness probe would: the last status and body."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read().decode(errors="replace")
        except OSError as exc:
            status, body = 0, str(exc)
        if time.monotonic() > deadline:
            return status, body
        time.sleep(0.5)


def run_operator(work: Path, procs: list[subprocess.Popen], database_url: str, redis: RedisServer) -> ControlPlane:
    say("starting a local Kubernetes control plane")
    plane = ControlPlane(work / "kube").start()
    env = {**os.environ, "KUBECONFIG": str(plane.kubeconfig)}
    plane.kubectl("apply", "--server-side", "-f", str(ROOT / "k8s" / "crds"))
    plane.kubectl("wait", "--for=condition=Established", "crd/storefronts.platform.storefront.dev", "--timeout=60s")
    say("starting the operator")
    procs.append(spawn([PY, "-m", "storefront_operator"], work / "operator.log", env=env, cwd=ROOT))
    plane.kubectl("create", "secret", "generic", "storefront-db", f"--from-literal=url={database_url}")
    plane.kubectl("apply", "-f", str(ROOT / "k8s" / "samples" / "storefront-minimal.yaml"))
    say("applied k8s/samples/storefront-minimal.yaml")
    show_reconciled(plane)
    return plane


PLATFORM_NAMESPACE, PLATFORM_NAME = "shop", "storefront"


def run_platform_on_node() -> tuple[Cluster, bool]:
    """The platform as a platform team runs it, on a real node of this machine; and whether its
    Storefront became Ready."""
    say("building the node's images (first time: about 6 minutes; cached afterwards)")
    archive = build_node_images(ROOT)
    say("starting a one-node cluster: control plane, containerd, kubelet, kube-proxy, CoreDNS")
    cluster = Cluster().start([archive])
    try:
        say("installing the operator's chart in storefront-system")
        install_operator(cluster)
        say(f"installing the platform chart in {PLATFORM_NAMESPACE}: PostgreSQL, a Redis cluster, a Storefront")
        install_platform(cluster, PLATFORM_NAMESPACE, PLATFORM_NAME)
        ready = show_platform(cluster)
    except BaseException:
        cluster.destroy()
        raise
    return cluster, ready


def service_url(cluster: Cluster) -> str:
    ip = cluster.kubectl("get", "service", PLATFORM_NAME, "-n", PLATFORM_NAMESPACE, "-o",
                         "jsonpath={.spec.clusterIP}", check=False).stdout.strip()
    return f"http://{ip}" if ip else "(no Service yet)"


def show_platform(cluster: Cluster, timeout: float = 420) -> bool:
    """Waits for the Storefront to be Ready (migration Job, keys, Redis cluster, rollout), showing
    each condition change, then the pods."""
    jsonpath = "jsonpath={range .status.conditions[*]}{.type}={.status} ({.reason}){'\\n'}{end}"
    deadline, last = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        conditions = cluster.kubectl("get", "sf", PLATFORM_NAME, "-n", PLATFORM_NAMESPACE, "-o", jsonpath,
                                     check=False).stdout.strip()
        if conditions and conditions != last:
            say("Storefront conditions:\n" + conditions)
            last = conditions
        if _is_ready(conditions):
            break
        time.sleep(2)
    else:
        say(f"the Storefront is not Ready after {timeout:.0f}s; its events:")
        print(cluster.kubectl("get", "events", "-n", PLATFORM_NAMESPACE, "--sort-by=.lastTimestamp", check=False).stdout)
    say("pods:\n" + cluster.kubectl("get", "pods", "-A", "-o", "wide", check=False).stdout.rstrip())
    return _is_ready(last)


def _is_ready(conditions: str) -> bool:
    # The Ready condition's own line: KeysReady=True and RedisReady=True say less.
    return any(line.startswith("Ready=True") for line in conditions.splitlines())


def show_reconciled(plane: ControlPlane, timeout: float = 60) -> None:
    """Waits for the operator's first status on the sample, then shows it and its children."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = plane.kubectl("get", "sf", "shop", "-o", "jsonpath={.status.observedGeneration}", check=False)
        if out.returncode == 0 and out.stdout.strip():
            break
        time.sleep(0.5)
    else:
        say("the operator has not reported a status yet; see operator.log")
        return
    # There are no nodes here, so pods stay Pending and the migration Job never finishes:
    # the status shows the rollout waiting on it.
    conditions = plane.kubectl("get", "sf", "shop", "-o",
                               "jsonpath={range .status.conditions[*]}{.type}={.status} ({.reason}){'\\n'}{end}")
    say("sample reconciled; its conditions:\n" + conditions.stdout.rstrip())
    children = plane.kubectl("get", "deploy,svc,cm,secret,job,pdb,networkpolicy,sa", "-l",
                             "app.kubernetes.io/instance=shop", "-o", "name", check=False)
    say("children:\n" + children.stdout.rstrip())


if __name__ == "__main__":
    sys.exit(main())
