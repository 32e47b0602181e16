#!/usr/bin/env python3
"""The developer loop on this machine with no container registry: `make devloop`, then skaffold.

    make devloop                  # as root; prints the two lines to paste in a second terminal
    skaffold dev -p node --default-repo 127.0.0.1:5000 --insecure-registry 127.0.0.1:5000

Builds or reuses what the loop needs (skaffold, the registry and the node's binaries from their
Go modules, the node's images from the local Debian base), then starts a registry on loopback
(port 5000, or STOREFRONT_REGISTRY_PORT) and the harness's one-node cluster ([docs/node.md])
whose containerd pulls from that registry over plain HTTP. skaffold builds the API and
operator images into the local Docker daemon (started here when none runs), pushes them to the
registry and installs both charts; edits of app/**/*.py are synced into the API pods.
Ctrl-C stops everything and puts the machine back as it was. See docs/kind.md.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "hack"))

from storefront_harness.cluster import Cluster, build_node_images  # noqa: E402
from storefront_harness.docker import DockerSession, keep_as_build_cache  # noqa: E402
from storefront_harness.errors import ComponentError  # noqa: E402
from storefront_harness.process import port_open  # noqa: E402
from storefront_harness.registry import Registry  # noqa: E402
from storefront_harness.signals import StopRequested, raise_on_stop_signals  # noqa: E402
from storefront_harness.tools import tools_dir  # noqa: E402


def say(msg: str) -> None:
    print(f"[devloop] {msg}", flush=True)



def main() -> int:
    if os.geteuid() != 0:
        say("the node needs root (containerd, the kubelet, its bridge): run as root")
        return 2
    port = int(os.environ.get("STOREFRONT_REGISTRY_PORT", "5000"))
    if port_open(port):
        say(f"port {port} is in use: set STOREFRONT_REGISTRY_PORT to a free one")
        return 2
    raise_on_stop_signals()
    work = Path(tempfile.mkdtemp(prefix="storefront-devloop-"))
    registry = cluster = docker = None
    try:
        say("building or reusing the node's images (first time: about 6 minutes)")
        archive = build_node_images(ROOT)
        registry = Registry(work / "registry", port=port).start()
        say(f"registry on http://{registry.address} (log: {registry.log})")
        say("starting the one-node cluster: control plane, containerd, kubelet, kube-proxy, CoreDNS")
        cluster = Cluster(registries=(registry.address,)).start([archive])
        # skaffold builds with the Docker daemon the image scripts share: hold their lock (and
        # the daemon, started here if none runs) for as long as the loop runs.
        say("taking the image builds' lock for skaffold's builds")
        session = DockerSession(work)
        session.__enter__()
        docker = session
        repo = registry.address
        say("ready. In a second terminal, from the repository root:")
        print(f"\n  export KUBECONFIG={cluster.kubeconfig} PATH={tools_dir()}:$PATH\n"
              f"  skaffold dev -p node --default-repo {repo} --insecure-registry {repo}\n", flush=True)
        say("then edit app/**/*.py: the API pods reload it. `kubectl get sf -A -w` shows the Storefront;")
        say("its Service answers on its cluster IP from this machine. Ctrl-C here stops everything.")
        while True:
            if registry.proc.poll() is not None:
                say(f"the registry exited with code {registry.proc.returncode}; stopping")
                return 1
            time.sleep(1)
    except StopRequested as stopped:
        say(f"{stopped}: stopping")
        return 0
    except ComponentError as exc:
        say(f"could not start: {exc}")
        return 1
    finally:
        if docker is not None:
            try:
                if registry is not None:
                    keep_as_build_cache(registry.address)
            finally:
                docker.__exit__(None, None, None)
        if cluster is not None:
            problems = cluster.destroy()
            if problems:
                say(f"could not undo everything the node changed: {problems}")
        if registry is not None:
            registry.destroy()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
