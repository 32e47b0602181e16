"""Runs the built images against real services, as Kubernetes would run them: read-only root
filesystem, a tmpfs at /tmp, no capabilities, user 10001.

- app: real PostgreSQL and Redis (the harness's, on loopback), `python -m app.cli migrate`,
  then the image's own CMD serving until /ready answers 200 and /version names the build;
- operator: `python -m storefront_operator` against a harness control plane, until it has
  created the migration Job for a Storefront.

Usage (after hack/build-images-offline.sh, dockerd running):
    .venv/bin/python hack/smoke-images.py storefront-app:TAG storefront-operator:TAG
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "hack"))

from storefront_harness import ControlPlane, PostgresServer, RedisServer  # noqa: E402
from storefront_harness.process import free_port  # noqa: E402

HARDENED = ["--read-only", "--tmpfs", "/tmp:uid=10001,gid=10001", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges", "--network", "host"]


def say(message: str) -> None:
    print(f"[smoke] {message}", flush=True)


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise SystemExit(f"docker {' '.join(args[:3])} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return result


def wait_for(what: str, probe, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""


def smoke_app(image: str, work: Path) -> None:
    pg = PostgresServer(work / "postgres").start()
    redis = RedisServer(work / "redis").start()
    name = f"sf-smoke-{uuid.uuid4().hex[:8]}"
    try:
        keys = work / "keys"
        keys.mkdir()
        subprocess.run([sys.executable, "-m", "app.cli", "keyset", "generate", "--out", str(keys / "keyset.json")],
                       cwd=ROOT, check=True, capture_output=True)
        keys.chmod(0o755)
        (keys / "keyset.json").chmod(0o644)
        port = free_port()
        env = {
            "STOREFRONT_DATABASE_URL": pg.create_database("smoke"),
            "STOREFRONT_REDIS_MODE": "standalone",
            "STOREFRONT_REDIS_URL": redis.url,
            "STOREFRONT_JWT_KEYSET_FILE": "/var/run/storefront/keys/keyset.json",
            "STOREFRONT_PII_ENCRYPTION_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "STOREFRONT_BLIND_INDEX_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "STOREFRONT_HOST": "127.0.0.1",
            "STOREFRONT_PORT": str(port),
            "STOREFRONT_TERMINATION_LOG": "/tmp/termination-log",
        }
        env_args = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
        mount = ["-v", f"{keys}:/var/run/storefront/keys:ro"]
        say(f"{image}: python -m app.cli migrate")
        migrated = docker("run", "--rm", *HARDENED, *env_args, *mount, image, "python", "-m", "app.cli", "migrate")
        say(f"  {migrated.stdout.strip().splitlines()[-1] if migrated.stdout.strip() else 'migrated'}")
        say(f"{image}: the image's CMD, serving on 127.0.0.1:{port}")
        docker("run", "-d", "--name", name, *HARDENED, *env_args, *mount, image)
        status, body = wait_for("/ready", lambda: (lambda r: r if r[0] == 200 else None)(
            get(f"http://127.0.0.1:{port}/ready")), timeout=60)
        say(f"  /ready {status}: {body[:200]}")
        status, body = get(f"http://127.0.0.1:{port}/version")
        labels = json.loads(docker("image", "inspect", "-f", "{{json .Config.Labels}}", image).stdout)
        version = json.loads(body)
        say(f"  /version {status}: {body[:200]}")
        assert status == 200 and version.get("git_sha", version.get("gitSha")) == labels[
            "org.opencontainers.image.revision"], (version, labels)
        # The docs page and Swagger UI's assets come from the image itself (no CDN).
        for path in ("/docs", "/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"):
            status, body = get(f"http://127.0.0.1:{port}{path}")
            say(f"  {path} {status}: {len(body)} characters")
            assert status == 200 and "swagger-ui" in body, (path, status, body[:200])
    finally:
        logs = docker("logs", "--tail", "20", name, check=False)
        if logs.returncode == 0 and "ERROR" in logs.stdout + logs.stderr:
            print(logs.stdout[-3000:], logs.stderr[-3000:])
        docker("rm", "-f", name, check=False)
        redis.destroy()
        pg.destroy()


def smoke_operator(image: str, work: Path) -> None:
    plane = ControlPlane(work / "kube", controller_manager=False).start()
    name = f"sf-smoke-op-{uuid.uuid4().hex[:8]}"
    try:
        crds = sorted((ROOT / "k8s" / "crds").glob("*.yaml"))
        for crd in crds:
            plane.kubectl("apply", "--server-side", "-f", str(crd))
        plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/storefronts.platform.storefront.dev")
        plane.kubectl("create", "namespace", "shop")
        plane.kubectl("-n", "shop", "create", "secret", "generic", "db", "--from-literal=url=postgresql+asyncpg://x@db/x")
        plane.kubectl("-n", "shop", "apply", "-f", "-", input=json.dumps({
            "apiVersion": "platform.storefront.dev/v1alpha1", "kind": "Storefront",
            "metadata": {"name": "shop", "namespace": "shop"},
            "spec": {"image": "storefront-app:smoke", "version": "1.0.0", "database": {"secretRef": {"name": "db"}},
                     "redis": {"mode": "standalone", "address": "redis.shop.svc:6379"}}}))
        kubeconfig = work / "operator.kubeconfig"
        plane.write_kubeconfig(kubeconfig, "admin", ("system:masters",), embed=True)  # mounted alone
        kubeconfig.chmod(0o644)
        say(f"{image}: python -m storefront_operator against a control plane")
        docker("run", "-d", "--name", name, *HARDENED, "-v", f"{kubeconfig}:/etc/kube/config:ro",
               "-e", "KUBECONFIG=/etc/kube/config", "-e", "STOREFRONT_OPERATOR_STANDALONE=true",
               "-e", f"STOREFRONT_OPERATOR_METRICS_PORT={free_port()}",
               "-e", f"STOREFRONT_OPERATOR_LIVENESS_ENDPOINT=http://127.0.0.1:{free_port()}/healthz", image)
        job = wait_for("the migration Job", lambda: json.loads(plane.kubectl(
            "-n", "shop", "get", "jobs", "-o", "json").stdout)["items"], timeout=90)
        say(f"  created Job {job[0]['metadata']['name']} with image "
            f"{job[0]['spec']['template']['spec']['containers'][0]['image']}")
    finally:
        docker("rm", "-f", name, check=False)
        plane.destroy()


def main() -> int:
    app_image, operator_image = sys.argv[1:3]
    work = Path(tempfile.mkdtemp(prefix="sf-smoke-"))
    work.chmod(0o711)  # PostgreSQL runs as the postgres user when we are root
    try:
        smoke_app(app_image, work)
        smoke_operator(operator_image, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    say("both images work")
    return 0


if __name__ == "__main__":
    sys.exit(main())
