"""A real Kubernetes node beside the harness's control plane.

containerd (Debian's, with runc) and the CNI bridge plugin run the pods; the kubelet,
kube-scheduler and kube-proxy (iptables mode) come from the pinned ``k8s.io/kubernetes``; CoreDNS
serves cluster DNS and metrics-server the resource metrics API, both as processes on the node's
address like the control plane's components. Images are never pulled: they are imported into
containerd from a local archive before the kubelet starts.

Two facts of these machines shape the configuration:
- cgroup v1 (hybrid): kubelet 1.35 refuses it unless ``failCgroupV1: false``; the pin stays on
  1.35, the last minor that still runs on v1 at all, and the kubelet uses the cgroupfs driver
  (no systemd as PID 1).
- root without CAP_SYS_RESOURCE: a negative ``oom_score_adj`` cannot be written, which the
  kubelet asks for every sandbox; containerd's ``restrict_oom_score_adj`` clamps it instead of
  failing the sandbox.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from .errors import ComponentError, tail
from .kube import ControlPlane
from .network import NodeNetwork
from .process import free_port, spawn, stop, wait_until
from .tools import cache_dir, tool

CNI_BIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin")
SANDBOX_IMAGE = "docker.io/library/storefront-pause:3.10"
CGROUP_ROOT = "storefront-node"
# Secret and ConfigMap volumes are refreshed on the pod's periodic sync; upstream's 1m default
# is kept short here so the suites wait less, and docs/operator.md states the bound for 1m.
SYNC_FREQUENCY = "20s"
# containerd's root (content, unpacked snapshots, metadata) outlives the node, so images already
# imported are not imported again: importing the ~1 GB archive is most of a node's start. One
# node per machine (the network's lock), so one containerd at a time uses it. A node that stops
# cleanly leaves no container in it and marks it clean; a store found unmarked (a killed run)
# is emptied before use.
IMAGE_STORE_DIR = "node-containerd"
_STORE_CLEAN = "clean"
_STORE_IMPORTED = "imported"


class Node:
    def __init__(self, plane: ControlPlane, base_dir: Path | None = None, name: str = "storefront-node",
                 registries: tuple[str, ...] = ()):
        if plane.network is None:
            raise ValueError("the control plane must be started with the node's NodeNetwork")
        self.plane = plane
        self.net: NodeNetwork = plane.network
        self.name = name
        # Unix socket paths are limited to 108 bytes: keep the directory short.
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="sfn-", dir="/tmp"))
        self.socket = self.base_dir / "containerd.sock"
        self.store = cache_dir() / IMAGE_STORE_DIR
        self._store_open = False
        self.kubelet_port = free_port()
        self.metrics_port = free_port()
        self.ports = {name: free_port() for name in
                      ("kubelet-healthz", "scheduler", "proxy-healthz", "proxy-metrics", "dns-health", "dns-ready")}
        self.procs: dict[str, subprocess.Popen] = {}
        # host:port of plain-HTTP registries on this machine the node may pull from (the
        # developer loop's loopback registry); without any, pods run only the imported images.
        self.registries = tuple(registries)

    def log(self, component: str) -> Path:
        return self.base_dir / f"{component}.log"

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, image_archives: list[Path] = ()) -> Node:
        try:
            self._open_store()
            self._start_containerd()
            for archive in image_archives:
                self._import_once(archive)
            self._apply_rbac()
            self._start_kubelet()
            self._start_scheduler()
            self._start_proxy()
            self._start_coredns()
            self._start_metrics_server()
            self._wait_node_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for name in ("metrics-server", "coredns", "kube-proxy", "kube-scheduler", "kubelet"):
            stop(self.procs.pop(name, None))
        containerd_ran = "containerd" in self.procs
        emptied = self._remove_containers()
        stop(self.procs.pop("containerd", None))
        self._kill_shims()
        self._unmount_all()
        self._remove_cgroups()
        if self._store_open and (emptied or not containerd_ran):
            self._close_store()

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def proxy_cleanup_command(self) -> list[str]:
        return [tool("kube-proxy"), "--cleanup"]

    # -- containerd --------------------------------------------------------------------
    def ctr(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        r = subprocess.run(["ctr", "--address", str(self.socket), "--namespace", "k8s.io", *args],
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)} failed: {r.stderr.strip()}")
        return r

    def _start_containerd(self) -> None:
        binary = shutil.which("containerd")
        if not binary or not shutil.which("runc"):
            raise ComponentError("containerd", "containerd", None, None, "containerd or runc missing: apt-get install containerd runc")
        cni_bin = next((d for d in CNI_BIN_DIRS if Path(d, "bridge").exists()), None)
        if cni_bin is None:
            raise ComponentError("containerd", "cni", None, None,
                                 f"no CNI bridge plugin in {CNI_BIN_DIRS}: apt-get install containernetworking-plugins")
        net_d = self.base_dir / "cni" / "net.d"
        net_d.mkdir(parents=True)
        (net_d / "10-storefront.conflist").write_text(json.dumps(self._cni_config(), indent=2))
        hosts_d = self.base_dir / "containerd" / "certs.d"
        for registry in self.registries:
            (hosts_d / registry).mkdir(parents=True)
            (hosts_d / registry / "hosts.toml").write_text(
                f'server = "http://{registry}"\n\n[host."http://{registry}"]\n  capabilities = ["pull", "resolve"]\n')
        config = self.base_dir / "containerd.toml"
        config.write_text(_containerd_config(self.base_dir, self.store / "root", self.socket, cni_bin, net_d, hosts_d))
        log = self.log("containerd")
        proc = spawn([binary, "--config", str(config)], log)
        self.procs["containerd"] = proc
        reason = wait_until(lambda: self.ctr("version", check=False, timeout=5).returncode == 0, proc, 30)
        if reason:
            raise ComponentError("containerd", binary, None, log, reason)

    def _cni_config(self) -> dict:
        return {
            "cniVersion": "1.0.0", "name": "storefront",
            "plugins": [
                {
                    "type": "bridge", "bridge": self.net.bridge, "isGateway": True,
                    # Pods reach only this node: no masquerading towards any other network.
                    "ipMasq": False, "hairpinMode": True,
                    "ipam": {"type": "host-local", "dataDir": str(self.base_dir / "cni" / "ipam"),
                             "ranges": [[{"subnet": self.net.pod_cidr, "gateway": self.net.gateway}]],
                             "routes": [{"dst": "0.0.0.0/0"}]},
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }

    # -- the image store -----------------------------------------------------------------
    def _open_store(self) -> None:
        """Uses the store when the last node left it clean; otherwise starts it afresh. From
        here until a clean stop it is marked in use."""
        clean = self.store / _STORE_CLEAN
        if self.store.exists() and not clean.exists():
            print(f"[node] {self.store} was not left clean (a killed run?): emptying it", flush=True)
            shutil.rmtree(self.store, ignore_errors=True)
        (self.store / "root").mkdir(parents=True, exist_ok=True)
        clean.unlink(missing_ok=True)
        self._store_open = True

    def _close_store(self) -> None:
        # CRI's per-sandbox files (hostname, resolv.conf) of the removed pods.
        shutil.rmtree(self.store / "root" / "io.containerd.grpc.v1.cri", ignore_errors=True)
        (self.store / _STORE_CLEAN).touch()
        self._store_open = False

    def _import_once(self, archive: Path) -> None:
        """Imports the archive unless it is the one the store last took in (its name is the hash
        of its images' IDs). A different archive is imported: the layers the store already has
        are not written or unpacked again, and the names move to the new images."""
        record = self.store / _STORE_IMPORTED
        if record.exists() and record.read_text().strip() == archive.name and self._has_images(archive):
            print(f"[node] {archive.name} is already in {self.store}", flush=True)
            return
        record.unlink(missing_ok=True)
        self.import_images(archive)
        record.write_text(archive.name + "\n")

    def _has_images(self, archive: Path) -> bool:
        """Every image the archive's list names (``<archive>.images``, when there is one) is known."""
        listing = archive.with_suffix(".images")
        if not listing.exists():
            return False
        have = set(self.image_names())
        wanted = [line.split()[0] for line in listing.read_text().splitlines() if line.strip()]
        return all(_qualified(name) in have for name in wanted)

    def import_images(self, archive: Path) -> None:
        started = time.monotonic()
        r = self.ctr("images", "import", str(archive), check=False, timeout=600)
        if r.returncode != 0:
            raise ComponentError("containerd", "ctr images import", None, self.log("containerd"),
                                 f"importing {archive} failed: {r.stderr.strip()}")
        print(f"[node] imported {archive.name} in {time.monotonic() - started:.0f}s", flush=True)

    def image_names(self) -> list[str]:
        return self.ctr("images", "list", "--quiet").stdout.split()

    def _remove_containers(self) -> bool:
        """Stops every pod the kubelet left (it is already gone), so no shim outlives the node;
        returns whether containerd is left with no container at all."""
        if self.procs.get("containerd") is None or not self.socket.exists():
            return False
        # Every pod's processes at once (they sit in the pods' cgroups), rather than one
        # `ctr tasks kill` at a time; then each task and container is deleted, a few at a time.
        for pid in _cgroup_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        def remove(container: str) -> None:
            for _ in range(50):
                r = self.ctr("tasks", "delete", "--force", container, check=False, timeout=30)
                if r.returncode == 0 or "not found" in r.stderr:
                    break
                time.sleep(0.1)
            self.ctr("containers", "delete", container, check=False, timeout=30)

        containers = self.ctr("containers", "list", "--quiet", check=False, timeout=30).stdout.split()
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(remove, containers))
        left = self.ctr("containers", "list", "--quiet", check=False, timeout=30)
        return left.returncode == 0 and not left.stdout.split()

    def _kill_shims(self) -> None:
        marker = str(self.socket)
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmdline and cmdline[0].endswith(b"containerd-shim-runc-v2") and marker.encode() in cmdline:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def _unmount_all(self) -> None:
        unmount_under(str(self.base_dir) + "/")

    @staticmethod
    def kill_leftovers(marker: str = "/tmp/sfc-") -> list[int]:
        """A run killed outright (SIGKILL, a lost machine) leaves its components and pods
        running. With the node's lock held, none of them belongs to a live node: kill every
        process whose command line names a cluster directory, and every process in the pods'
        cgroups. Returns the pids killed."""
        killed = []
        me = os.getpid()
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == me:
                continue
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmdline:
                killed.append(int(pid))
        killed += _cgroup_pids()
        for pid in set(killed):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return sorted(set(killed))

    def _create_cgroup_root(self) -> None:
        """The kubelet puts its pods under ``cgroupRoot`` and wants it to exist in every
        hierarchy; a new cpuset cgroup starts with no CPUs or memory nodes, so it copies its
        parent's."""
        for controller in Path("/sys/fs/cgroup").iterdir():
            if not controller.is_dir() or controller.name == "unified":
                continue
            root = controller / CGROUP_ROOT
            root.mkdir(exist_ok=True)
            for setting in ("cpuset.cpus", "cpuset.mems"):
                if (root / setting).exists() and not (root / setting).read_text().strip():
                    (root / setting).write_text((controller / setting).read_text())

    def _remove_cgroups(self) -> None:
        for controller in Path("/sys/fs/cgroup").iterdir():
            root = controller / CGROUP_ROOT
            if not root.is_dir():
                continue
            for path in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
                try:
                    path.rmdir()
                except OSError:
                    pass
            try:
                root.rmdir()
            except OSError:
                pass

    # -- credentials -------------------------------------------------------------------
    def _kubeconfig(self, user: str, groups: tuple[str, ...] = ()) -> Path:
        return self.plane.write_kubeconfig(self.base_dir / f"{user.replace(':', '-')}.kubeconfig", user, groups)

    def _apply_rbac(self) -> None:
        """Least privilege for the two add-ons (the scheduler, kube-proxy and the kubelet have
        their bootstrap roles): CoreDNS reads Services and endpoints; metrics-server reads node
        metrics and delegates authentication and authorization to the API server."""
        self.plane.kubectl("apply", "-f", "-", input=_ADDON_RBAC)

    # -- the kubelet -------------------------------------------------------------------
    def _start_kubelet(self) -> None:
        binary = tool("kubelet")
        self._create_cgroup_root()
        pki = self.base_dir / "pki"
        pki.mkdir()
        serving_cert, serving_key = self.plane.ca.issue(
            "kubelet-serving", f"system:node:{self.name}", ("system:nodes",),
            server_names=(self.name,), server_ips=(self.net.node_ip,))
        kubeconfig = self._kubeconfig(f"system:node:{self.name}", ("system:nodes",))
        resolv = self.base_dir / "resolv.conf"
        resolv.write_text(f"nameserver {self.net.node_ip}\n")
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "failCgroupV1": False, "cgroupDriver": "cgroupfs", "cgroupRoot": f"/{CGROUP_ROOT}",
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            "address": self.net.node_ip, "port": self.kubelet_port, "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1", "healthzPort": self.ports["kubelet-healthz"],
            "tlsCertFile": str(serving_cert), "tlsPrivateKeyFile": str(serving_key),
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                               "x509": {"clientCAFile": str(self.plane.ca.cert_path)}},
            "authorization": {"mode": "Webhook"},
            "clusterDNS": [self.net.node_ip], "clusterDomain": "cluster.local", "resolvConf": str(resolv),
            "podCIDR": self.net.pod_cidr, "maxPods": 110,
            "syncFrequency": SYNC_FREQUENCY,
            "failSwapOn": False, "rotateCertificates": False, "serverTLSBootstrap": False,
            # This machine is shared with the test processes: never evict for disk or images GC.
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                             "nodefs.inodesFree": "1%"},
            "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
            "staticPodPath": "", "enforceNodeAllocatable": ["pods"],
            "shutdownGracePeriod": "0s",
        }
        config_path = self.base_dir / "kubelet.yaml"
        config_path.write_text(yaml.safe_dump(config))
        log = self.log("kubelet")
        proc = spawn([
            binary, f"--config={config_path}", f"--kubeconfig={kubeconfig}",
            f"--root-dir={self.base_dir / 'kubelet'}", f"--hostname-override={self.name}",
            f"--node-ip={self.net.node_ip}", "--v=1",
        ], log)
        self.procs["kubelet"] = proc
        reason = wait_until(lambda: self.plane.get(f"/api/v1/nodes/{self.name}")[0] == 200, proc, 60)
        if reason:
            raise ComponentError("kubelet", binary, self.kubelet_port, log, reason)

    def _wait_node_ready(self, timeout: float = 90) -> None:
        def ready() -> bool:
            status, body = self.plane.get(f"/api/v1/nodes/{self.name}")
            if status != 200:
                return False
            conditions = json.loads(body).get("status", {}).get("conditions", [])
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

        reason = wait_until(ready, self.procs["kubelet"], timeout)
        if reason:
            raise ComponentError("kubelet", tool("kubelet"), self.kubelet_port, self.log("kubelet"),
                                 f"node {self.name} not Ready: {reason}\n--- containerd ---\n{tail(self.log('containerd'))}")

    # -- control-plane add-ons on the node ---------------------------------------------
    def _start_scheduler(self) -> None:
        binary = tool("kube-scheduler")
        kubeconfig = self._kubeconfig("system:kube-scheduler")
        log = self.log("kube-scheduler")
        port = self.ports["scheduler"]
        proc = spawn([
            binary, f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}", "--leader-elect=false",
            "--bind-address=127.0.0.1", f"--secure-port={port}", "--v=1",
        ], log)
        self.procs["kube-scheduler"] = proc
        reason = wait_until(lambda: _healthy(f"https://127.0.0.1:{port}/healthz"), proc, 60)
        if reason:
            raise ComponentError("kube-scheduler", binary, port, log, reason)

    def _start_proxy(self) -> None:
        binary = tool("kube-proxy")
        kubeconfig = self._kubeconfig("system:kube-proxy")
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
            "mode": "iptables", "clusterCIDR": self.net.pod_cidr, "hostnameOverride": self.name,
            "clientConnection": {"kubeconfig": str(kubeconfig)},
            "healthzBindAddress": f"127.0.0.1:{self.ports['proxy-healthz']}",
            "metricsBindAddress": f"127.0.0.1:{self.ports['proxy-metrics']}",
            # NodePorts only on the node's own address, never on the machine's interfaces.
            "nodePortAddresses": [f"{self.net.node_ip}/32"],
            # Leave the machine's conntrack table settings alone.
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        }
        config_path = self.base_dir / "kube-proxy.yaml"
        config_path.write_text(yaml.safe_dump(config))
        log = self.log("kube-proxy")
        proc = spawn([binary, f"--config={config_path}", "--v=1"], log)
        self.procs["kube-proxy"] = proc
        reason = wait_until(lambda: _healthy(f"http://127.0.0.1:{self.ports['proxy-healthz']}/healthz"), proc, 60)
        if reason:
            raise ComponentError("kube-proxy", binary, self.ports["proxy-healthz"], log, reason)

    def _start_coredns(self) -> None:
        binary = tool("coredns")
        kubeconfig = self._kubeconfig("system:coredns")
        corefile = self.base_dir / "Corefile"
        # Only the cluster's names: nothing is forwarded to resolvers outside the node.
        corefile.write_text(f"""\
cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {{
    bind {self.net.node_ip}
    errors
    health 127.0.0.1:{self.ports['dns-health']}
    ready 127.0.0.1:{self.ports['dns-ready']}
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig} harness
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    cache 5
    loadbalance
}}
.:53 {{
    bind {self.net.node_ip}
    errors
    template ANY ANY {{
        rcode NXDOMAIN
    }}
}}
""")
        log = self.log("coredns")
        proc = spawn([binary, "-conf", str(corefile)], log, cwd=self.base_dir)
        self.procs["coredns"] = proc
        reason = wait_until(lambda: _healthy(f"http://127.0.0.1:{self.ports['dns-ready']}/ready"), proc, 60)
        if reason:
            raise ComponentError("coredns", binary, 53, log, reason)

    def _start_metrics_server(self) -> None:
        binary = tool("metrics-server")
        kubeconfig = self._kubeconfig("system:metrics-server")
        cert, key = self.plane.ca.issue("metrics-server", "metrics-server",
                                        server_names=("metrics-server.kube-system.svc",), server_ips=(self.net.node_ip,))
        log = self.log("metrics-server")
        proc = spawn([
            binary, f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            f"--bind-address={self.net.node_ip}", f"--secure-port={self.metrics_port}",
            f"--tls-cert-file={cert}", f"--tls-private-key-file={key}", f"--cert-dir={self.base_dir / 'metrics-server'}",
            "--kubelet-preferred-address-types=InternalIP", "--kubelet-use-node-status-port",
            f"--kubelet-certificate-authority={self.plane.ca.cert_path}",
            "--metric-resolution=15s", "--v=1",
        ], log)
        self.procs["metrics-server"] = proc
        ca = base64.b64encode(self.plane.ca.cert_pem).decode()
        self.plane.kubectl("apply", "-f", "-", input=_METRICS_API.format(ip=self.net.node_ip, port=self.metrics_port, ca=ca))
        reason = wait_until(lambda: self.plane.get("/apis/metrics.k8s.io/v1beta1")[0] == 200, proc, 60)
        if reason:
            raise ComponentError("metrics-server", binary, self.metrics_port, log, reason)

    # -- diagnostics -------------------------------------------------------------------
    def diagnostics(self, lines: int = 40) -> str:
        parts = []
        for name in ("kubelet", "containerd", "kube-scheduler", "kube-proxy", "coredns", "metrics-server"):
            parts.append(f"--- {name} ({self.log(name)}) ---\n{tail(self.log(name), lines)}")
        return "\n".join(parts)


def _cgroup_pids() -> list[int]:
    """Every process in the pods' cgroups (under the kubelet's cgroup root)."""
    for controller in ("pids", "memory", "cpu"):
        root = Path("/sys/fs/cgroup") / controller / CGROUP_ROOT
        if root.is_dir():
            pids = []
            for procs in root.rglob("cgroup.procs"):
                try:
                    pids += [int(p) for p in procs.read_text().split()]
                except OSError:
                    continue
            return pids
    return []


def _qualified(image: str) -> str:
    """The name containerd gives an image imported from a `docker save` archive."""
    name = image if "/" in image else f"library/{image}"
    return name if name.split("/")[0].count(".") or name.split("/")[0].count(":") else f"docker.io/{name}"


def unmount_under(prefix: str) -> None:
    """Every mount whose path starts with ``prefix`` (Secret volumes, overlay root filesystems,
    netns bind mounts), innermost first."""
    for _ in range(3):
        mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
        ours = sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True)
        if not ours:
            return
        for mount in ours:
            subprocess.run(["umount", "--lazy", mount], capture_output=True, check=False)


def _healthy(url: str) -> bool:
    import ssl
    import urllib.request

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # a loopback health endpoint with a self-signed certificate
    with urllib.request.urlopen(url, timeout=2, context=ctx) as r:
        return r.status == 200


def _containerd_config(base: Path, root: Path, socket: Path, cni_bin: str, net_d: Path, hosts_d: Path) -> str:
    return f"""\
version = 2
root = "{root}"
state = "{base / 'containerd' / 'state'}"
oom_score = 0

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{socket}.ttrpc"

[debug]
  level = "warn"

[plugins."io.containerd.internal.v1.opt"]
  path = "{base / 'containerd' / 'opt'}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{SANDBOX_IMAGE}"
  # No CAP_SYS_RESOURCE here: clamp the kubelet's negative oom_score_adj instead of failing.
  restrict_oom_score_adj = true
  enable_selinux = false
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin}"
    conf_dir = "{net_d}"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    # One hosts.toml per registry the node may pull from, each plain HTTP on this machine.
    config_path = "{hosts_d}"
"""


_ADDON_RBAC = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "storefront-harness:coredns"}
rules:
  - apiGroups: [""]
    resources: [endpoints, services, pods, namespaces]
    verbs: [list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "storefront-harness:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "storefront-harness:coredns"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:coredns"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "storefront-harness:metrics-server"}
rules:
  - apiGroups: [""]
    resources: [nodes/metrics]
    verbs: [get]
  - apiGroups: [""]
    resources: [pods, nodes]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "storefront-harness:metrics-server"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "storefront-harness:metrics-server"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:metrics-server"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "storefront-harness:metrics-server:auth-delegator"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:auth-delegator"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:metrics-server"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: "storefront-harness:metrics-server:auth-reader", namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: "extension-apiserver-authentication-reader"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:metrics-server"}]
"""

# metrics-server runs on the node's address, outside any pod: a selector-less Service whose
# endpoints name that address, and the APIService that the aggregation layer routes to it.
_METRICS_API = """\
apiVersion: v1
kind: Service
metadata: {{name: metrics-server, namespace: kube-system}}
spec:
  ports: [{{name: https, port: 443, targetPort: {port}, protocol: TCP}}]
---
apiVersion: v1
kind: Endpoints
metadata: {{name: metrics-server, namespace: kube-system}}
subsets:
  - addresses: [{{ip: "{ip}"}}]
    ports: [{{name: https, port: {port}, protocol: TCP}}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {{name: v1beta1.metrics.k8s.io}}
spec:
  group: metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  caBundle: {ca}
  service: {{name: metrics-server, namespace: kube-system, port: 443}}
"""
