"""The developer loop, run for real on this machine with no registry but one on loopback.

`skaffold run -p node` builds the API and operator images FROM the locally made Debian base,
pushes them to the loopback registry and installs both charts; the node pulls the images from
there and the Storefront becomes Ready. Then `skaffold dev -p node` deploys the API's `dev`
image; an edit of a Python file of app/ in a copy of the repository reaches the running pod by
file sync and uvicorn's reload, with no new image and no new pod. Stopping skaffold uninstalls
both releases. Everything runs in a throw-away copy of the repository, never in this one.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from devloop_support import LOGS

from storefront_harness import polling
from storefront_harness.cluster import Cluster
from storefront_harness.docker import DockerSession, keep_as_build_cache
from storefront_harness.platform import REPO
from storefront_harness.registry import Registry
from storefront_harness.tools import tool, tools_dir

NAMESPACE, NAME = "storefront", "storefront"
OPERATOR_NAMESPACE = "storefront-system"
HEALTH_FILE = Path("app/api/health.py")
HEALTH_MODEL = 'class Health(BaseModel):\n    status: Literal["ok"] = "ok"\n'


def wait_for(what: str, check: Callable[[], object], timeout: float, interval: float = 2) -> object:
    """The harness's bounded poll, with the devloop's argument order and slower default tick."""
    return polling.wait_for(check, timeout, interval, message=what)


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository's files (tracked and new, not ignored) in a git repository of its
    own: skaffold tags images by commit, and the test edits files here, never in the real tree."""
    copy = tmp_path_factory.mktemp("devloop") / "repo"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, files):
        src = REPO / name
        if src.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, copy / name)
    git = ["git", "-c", "user.name=devloop", "-c", "user.email=devloop@storefront.invalid"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "devloop"]):
        subprocess.run([*git, *args], cwd=copy, check=True, capture_output=True)
    return copy


class Skaffold:
    def __init__(self, workspace: Path, cluster: Cluster, registry: Registry):
        self.workspace = workspace
        self.cluster = cluster
        self.registry = registry
        home = workspace.parent / "home"
        (home / ".skaffold").mkdir(parents=True, exist_ok=True)
        # No metrics, no survey prompt, no update check: nothing leaves the machine.
        (home / ".skaffold" / "config").write_text(
            "global:\n  collect-metrics: false\n  survey:\n    disable-prompt: true\n"
            "  update:\n    check-for-updates: false\n")
        self.env = {**os.environ, "HOME": str(home), "KUBECONFIG": str(cluster.kubeconfig),
                    "PATH": f"{tools_dir()}:{os.environ['PATH']}", "SKAFFOLD_UPDATE_CHECK": "false"}

    def args(self, command: str) -> list[str]:
        return [tool("skaffold"), command, "-p", "node", "--default-repo", self.registry.address,
                "--insecure-registry", self.registry.address, "--port-forward=off", "--update-check=false",
                "--cache-file", str(self.workspace.parent / "skaffold-cache")]

    def run(self, log: Path, timeout: float) -> None:
        LOGS.append(log)
        with open(log, "w") as out:
            r = subprocess.run([*self.args("run"), "--status-check=true"], cwd=self.workspace, env=self.env,
                               stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False)
        assert r.returncode == 0, f"skaffold run failed (exit {r.returncode}); its output is in the report"

    def dev(self, log: Path) -> subprocess.Popen:
        LOGS.append(log)
        out = open(log, "w")
        proc = subprocess.Popen(self.args("dev"), cwd=self.workspace, env=self.env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        return proc


@pytest.fixture(scope="module")
def skaffold(workspace: Path, cluster: Cluster, registry: Registry, tmp_path_factory) -> Iterator[Skaffold]:
    # Builds need the Docker daemon the image scripts share: hold their lock while skaffold runs.
    with DockerSession(tmp_path_factory.mktemp("docker")):
        containers = docker_containers()
        try:
            yield Skaffold(workspace, cluster, registry)
        finally:
            keep_as_build_cache(registry.address)
        # The lock keeps other builds out meanwhile: any new container is one skaffold's left.
        assert docker_containers() == containers, "skaffold's builds left containers behind"


def docker_containers() -> set[str]:
    return set(subprocess.run(["docker", "ps", "-aq", "--no-trunc"], capture_output=True, text=True,
                              check=True).stdout.split())


def storefront(cluster: Cluster) -> dict:
    return json.loads(cluster.kubectl("get", "sf", NAME, "-n", NAMESPACE, "-o", "json").stdout)


def ready_storefront(cluster: Cluster) -> dict | None:
    sf = storefront(cluster)
    status = sf.get("status", {})
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))
    current = status.get("observedGeneration") == sf["metadata"]["generation"]
    return sf if ready and current else None


def api_pods(cluster: Cluster) -> list[dict]:
    out = cluster.kubectl("get", "pods", "-n", NAMESPACE, "-l", f"app.kubernetes.io/instance={NAME},"
                          "app.kubernetes.io/component=api", "-o", "json").stdout
    return [p for p in json.loads(out)["items"] if not p["metadata"].get("deletionTimestamp")]


def serving(cluster: Cluster, image: str) -> list[dict] | None:
    """The API pods, once every one runs ``image`` and is ready."""
    pods = api_pods(cluster)
    def ok(p: dict) -> bool:
        statuses = p["status"].get("containerStatuses", [])
        return (p["spec"]["containers"][0]["image"] == image and bool(statuses)
                and all(s.get("ready") for s in statuses))
    return pods if pods and all(ok(p) for p in pods) else None


def running(pods: list[dict]) -> dict[str, tuple[int, list[str]]]:
    """Each pod's restarts and the digests of the images its containers run, by pod uid."""
    return {p["metadata"]["uid"]: (sum(s["restartCount"] for s in p["status"]["containerStatuses"]),
                                   sorted(s["imageID"] for s in p["status"]["containerStatuses"]))
            for p in pods}


def service_url(cluster: Cluster, path: str) -> str:
    ip = cluster.kubectl("get", "service", NAME, "-n", NAMESPACE, "-o", "jsonpath={.spec.clusterIP}").stdout.strip()
    return f"http://{ip}{path}"


def test_skaffold_run_then_dev_serves_an_edit_through_file_sync(skaffold: Skaffold, cluster: Cluster,
                                                                registry: Registry, workspace: Path) -> None:
    logs = workspace.parent
    # 1. skaffold run: images built here, pushed to the loopback registry, pulled by the node.
    skaffold.run(logs / "skaffold-run.log", timeout=1200)
    assert {"storefront-app", "storefront-operator"} <= set(registry.repositories())
    sf = wait_for("the Storefront Ready after skaffold run", lambda: ready_storefront(cluster), 480)
    image = sf["spec"]["image"]
    assert image.startswith(f"{registry.address}/storefront-app:"), image
    wait_for("the API pods serving the pushed image", lambda: serving(cluster, image), 180)
    status, body = wait_for("/ready through the Service",
                            lambda: (r := http_get(service_url(cluster, "/ready")))[0] == 200 and r, 120)
    assert json.loads(body)["status"] == "ready"

    # 2. skaffold dev: the dev image (uvicorn --reload on /tmp/src), then an edit synced into it.
    dev_log = logs / "skaffold-dev.log"
    proc = skaffold.dev(dev_log)
    try:
        wait_for("skaffold dev deployed and watching",
                 lambda: "Watching for changes" in dev_log.read_text(errors="replace") or proc.poll() is not None, 900, 3)
        assert proc.poll() is None, f"skaffold dev exited with {proc.returncode}"
        sf = wait_for("the Storefront Ready on the dev image",
                      lambda: (s := ready_storefront(cluster)) and s["spec"]["image"] != image and s, 480)
        dev_image = sf["spec"]["image"]
        assert dev_image.startswith(f"{registry.address}/storefront-app:") and "@sha256:" in dev_image, dev_image
        pods = wait_for("the API pods serving the dev image", lambda: serving(cluster, dev_image), 300)
        before = running(pods)
        api_builds = dev_log.read_text(errors="replace").count("Building [storefront-app]")
        watching = dev_log.read_text(errors="replace").count("Watching for changes")
        manifests_before = registry.tags("storefront-app")

        marker = f"edited-{time.monotonic_ns()}"
        source = workspace / HEALTH_FILE
        text = source.read_text()
        assert HEALTH_MODEL in text, f"{HEALTH_FILE} no longer declares the Health model this test edits"
        source.write_text(text.replace(HEALTH_MODEL, HEALTH_MODEL + f'    edited: str = "{marker}"\n'))

        wait_for("the edit served by the running API pods",
                 lambda: marker in http_get(service_url(cluster, "/health"))[1], 120, 1)
        assert "Syncing 1 files" in dev_log.read_text(errors="replace"), "the edit did not go through skaffold's file sync"
        # The operator's image is rebuilt and redeployed (the project's one wheel carries app/
        # too): let skaffold finish, so Ctrl-C cancels no build, and the API must not care.
        wait_for("skaffold watching again after the operator's rebuild",
                 lambda: dev_log.read_text(errors="replace").count("Watching for changes") > watching
                 or proc.poll() is not None, 300)
        assert proc.poll() is None, f"skaffold dev exited with {proc.returncode}"
        log = dev_log.read_text(errors="replace")
        assert log.count("Building [storefront-app]") == api_builds, "the edit rebuilt the API image instead of syncing"
        assert registry.tags("storefront-app") == manifests_before, "the edit pushed an image"
        assert storefront(cluster)["spec"]["image"] == dev_image
        assert running(api_pods(cluster)) == before, \
            "the edit replaced or restarted an API pod, or changed its image, instead of reloading in place"
    finally:
        # 3. Ctrl-C: skaffold dev uninstalls what it deployed.
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(240)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
            pytest.fail("skaffold dev did not stop within 240s of Ctrl-C")

    releases = json.loads(subprocess.run([tool("helm"), "--kubeconfig", str(cluster.kubeconfig), "list", "-A",
                                          "-o", "json"], capture_output=True, text=True, check=True).stdout)
    assert releases == [], f"releases left after skaffold dev stopped: {[r['name'] for r in releases]}"
    wait_for("the platform's pods gone after clean-up",
             lambda: not cluster.kubectl("get", "pods", "-n", NAMESPACE, "-o", "name").stdout.strip()
             and not cluster.kubectl("get", "pods", "-n", OPERATOR_NAMESPACE, "-o", "name").stdout.strip(), 240)
    # The platform went first, and the operator's pre-delete hook kept it until the finalizer was off.
    assert not cluster.kubectl("get", "sf", "-A", "-o", "name").stdout.strip(), "a Storefront outlived its release"
    assert not cluster.kubectl("get", "jobs", "-n", OPERATOR_NAMESPACE, "-o", "name").stdout.strip(), \
        "the operator's uninstall hook Job was left behind"
    log = dev_log.read_text(errors="replace")
    assert log.index('release "storefront" uninstalled') < log.index('release "storefront-operator" uninstalled')
