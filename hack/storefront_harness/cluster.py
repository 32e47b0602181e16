"""A one-node Kubernetes cluster on this machine: the node's network, the control plane on the
node's address, and the node itself, started in that order and torn down in reverse."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .errors import ComponentError
from .kube import ControlPlane
from .network import HostNetwork, NodeNetwork
from .node import Node, unmount_under
from .tools import tool

# Every cluster's directory starts so: a killed run's leftovers are found by it.
CLUSTER_DIR_PREFIX = "/tmp/sfc-"
OWNER_FILE = "owner.pid"


def _owner_alive(directory: Path) -> bool:
    try:
        pid = int((directory / OWNER_FILE).read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return pid != os.getpid()


class Cluster:
    def __init__(self, base_dir: Path | None = None, network: NodeNetwork | None = None,
                 registries: tuple[str, ...] = ()):
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix=Path(CLUSTER_DIR_PREFIX).name, dir="/tmp"))
        self.base_dir.mkdir(parents=True, exist_ok=True)
        # Whose directory this is: a cluster still waiting for the node's lock is not a leftover.
        (self.base_dir / OWNER_FILE).write_text(str(os.getpid()))
        self.network = network or NodeNetwork()
        self.host = HostNetwork(self.network)
        self.plane = ControlPlane(self.base_dir / "kube", network=self.network)
        self.node = Node(self.plane, self.base_dir / "node", registries=registries)

    @property
    def kubeconfig(self) -> Path:
        return self.plane.kubeconfig

    def start(self, image_archives: list[Path] = ()) -> Cluster:
        try:
            self.host.up(clear_leftovers=self._clear_leftovers)
            self.plane.start()
            self.node.start(image_archives)
        except BaseException:  # a stop signal mid-start too: nothing is left behind
            self.destroy()
            raise
        return self

    def _clear_leftovers(self) -> None:
        """What a killed run left: its processes, mounts, pod network namespaces, iptables
        chains and directory. Runs with the node's lock held, so none of it is live."""
        killed = Node.kill_leftovers(CLUSTER_DIR_PREFIX)
        if killed:
            print(f"[node] stopped {len(killed)} processes a killed run left behind", flush=True)
        unmount_under(CLUSTER_DIR_PREFIX)
        for netns in Path("/run/netns").glob("cni-*") if Path("/run/netns").is_dir() else ():
            subprocess.run(["ip", "netns", "delete", netns.name], capture_output=True, check=False)
        subprocess.run(self.node.proxy_cleanup_command(), capture_output=True, check=False)
        for stale in Path("/tmp").glob(Path(CLUSTER_DIR_PREFIX).name + "*"):
            if stale != self.base_dir and not _owner_alive(stale):
                shutil.rmtree(stale, ignore_errors=True)

    def destroy(self) -> list[str]:
        """Stops everything and puts the machine back; returns what could not be undone."""
        self.node.stop()
        self.plane.stop()
        problems = self.host.down(cleanup_iptables=self.node.proxy_cleanup_command())
        shutil.rmtree(self.base_dir, ignore_errors=True)
        return problems

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        return self.plane.kubectl(*args, input=input, check=check)

    def env(self) -> dict[str, str]:
        return self.plane.env()

    def diagnostics(self) -> str:
        """What explains a failure: pods and events everywhere, then the node's component logs."""
        out = []
        for args in (("get", "pods", "-A", "-o", "wide"), ("get", "events", "-A", "--sort-by=.lastTimestamp")):
            r = self.plane.kubectl(*args, check=False)
            out.append(f"--- kubectl {' '.join(args)} ---\n{r.stdout[-6000:]}{r.stderr[-1000:]}")
        out.append(self.node.diagnostics())
        return "\n".join(out)


def build_node_images(repo: Path) -> Path:
    """Builds (or reuses) every image the node runs; returns the docker-save archive."""
    script = repo / "hack" / "build-node-images.sh"
    env = {**os.environ, "STOREFRONT_TOOLS_BIN": str(Path(tool("kubectl")).parent)}
    r = subprocess.run(["bash", str(script)], cwd=repo, env=env, capture_output=True, text=True, timeout=3600)
    if r.returncode != 0:
        raise ComponentError("node images", str(script), None, None,
                             f"exit {r.returncode}\n{r.stderr[-6000:]}")
    return Path(r.stdout.strip().splitlines()[-1])
