"""A Kubernetes control plane on loopback, in the manner of controller-runtime's envtest.

etcd, kube-apiserver (RBAC, PodSecurity admission, service-account tokens) and, unless
disabled, kube-controller-manager (garbage collector, Deployment/ReplicaSet/Job controllers).
On its own it has no nodes: pods are created but never scheduled. Given a ``NodeNetwork``
(see ``node.py``) the API server instead listens on the node's address, where pods can reach
it through the ``kubernetes`` Service, and is set up for a kubelet and aggregated APIs.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import shutil
import ssl
import subprocess
import tempfile
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from .certs import CertificateAuthority, service_account_keypair
from .errors import ComponentError
from .process import free_port, spawn, stop, wait_until
from .tools import tool

if TYPE_CHECKING:
    from .network import NodeNetwork


def _first_host(cidr: str) -> str:
    """The ``kubernetes`` Service's ClusterIP: the first address of the Service range."""
    return str(next(ipaddress.ip_network(cidr).hosts()))


class ControlPlane:
    def __init__(self, base_dir: Path | None = None, controller_manager: bool = True,
                 network: NodeNetwork | None = None):
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="sf-kube-"))
        self.with_controller_manager = controller_manager
        self.network = network
        self.address = network.node_ip if network else "127.0.0.1"
        self.service_cidr = network.service_cidr if network else "10.0.0.0/24"
        self.etcd_port = free_port()
        self.etcd_peer_port = free_port()
        self.api_port = free_port()
        self.kcm_port = free_port()
        self.procs: dict[str, subprocess.Popen] = {}
        self.kubeconfig = self.base_dir / "admin.kubeconfig"

    @property
    def server(self) -> str:
        return f"https://{self.address}:{self.api_port}"

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> ControlPlane:
        try:
            self._prepare()
            self._start_etcd()
            self._start_apiserver()
            if self.with_controller_manager:
                self._start_controller_manager()
        except BaseException:
            self.stop()
            raise
        return self

    def _prepare(self) -> None:
        pki = self.base_dir / "pki"
        self.ca = CertificateAuthority(pki)
        self.serving = self.ca.issue(
            "apiserver", "kube-apiserver",
            server_names=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                          "kubernetes.default.svc.cluster.local"),
            server_ips=tuple(dict.fromkeys(("127.0.0.1", self.address, _first_host(self.service_cidr)))),
        )
        self.sa_key, self.sa_pub = service_account_keypair(pki)
        self.write_kubeconfig(self.kubeconfig, "admin", ("system:masters",))

    def write_kubeconfig(self, path: Path, user: str, groups: tuple[str, ...] = (), *, embed: bool = False) -> Path:
        """A kubeconfig authenticating as ``user`` in ``groups`` with a client certificate.

        The certificates are referenced by path unless ``embed`` (for a kubeconfig that must
        stand alone, e.g. mounted into a container): given ``*-data`` the Python kubernetes
        client copies them into temporary files that outlive any process killed before its exit
        handlers run (the restart suites SIGKILL the operator), which would leave private keys
        behind in /tmp. The referenced files go with the control plane's directory.
        """
        cert, key = self.ca.issue(f"user-{user.replace(':', '-')}", user, groups)
        if embed:
            def b64(p: Path) -> str:
                return base64.b64encode(Path(p).read_bytes()).decode()

            cluster = {"server": self.server, "certificate-authority-data": b64(self.ca.cert_path)}
            credentials = {"client-certificate-data": b64(cert), "client-key-data": b64(key)}
        else:
            cluster = {"server": self.server, "certificate-authority": str(self.ca.cert_path)}
            credentials = {"client-certificate": str(cert), "client-key": str(key)}
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "harness",
            "clusters": [{"name": "harness", "cluster": cluster}],
            "users": [{"name": user, "user": credentials}],
            "contexts": [{"name": "harness", "context": {"cluster": "harness", "user": user, "namespace": "default"}}],
        }
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    def _start_etcd(self) -> None:
        binary = tool("etcd")
        log = self.base_dir / "etcd.log"
        peer = f"http://127.0.0.1:{self.etcd_peer_port}"
        client = f"http://127.0.0.1:{self.etcd_port}"
        proc = spawn([
            binary, "--name", "harness", "--data-dir", str(self.base_dir / "etcd"),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"harness={peer}", "--unsafe-no-fsync", "--log-level", "warn",
        ], log)
        self.procs["etcd"] = proc
        reason = wait_until(lambda: urllib.request.urlopen(f"{client}/health", timeout=1).status == 200, proc, 30)
        if reason:
            raise ComponentError("etcd", binary, self.etcd_port, log, reason)

    def _ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca.cert_path))
        cert, key = self.ca.dir / "user-admin.crt", self.ca.dir / "user-admin.key"
        ctx.load_cert_chain(str(cert), str(key))
        return ctx

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"{self.server}{path}", context=self._ssl_context(), timeout=2) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")

    def _start_apiserver(self) -> None:
        binary = tool("kube-apiserver")
        log = self.base_dir / "kube-apiserver.log"
        cert, key = self.serving
        proc = spawn([
            binary,
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            f"--bind-address={self.address}", f"--advertise-address={self.address}", f"--secure-port={self.api_port}",
            f"--cert-dir={self.base_dir / 'apiserver-certs'}",
            f"--tls-cert-file={cert}", f"--tls-private-key-file={key}",
            f"--client-ca-file={self.ca.cert_path}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={self.sa_pub}", f"--service-account-signing-key-file={self.sa_key}",
            f"--service-cluster-ip-range={self.service_cidr}",
            "--allow-privileged=true", "--v=1",
            *(self._node_flags() if self.network else
              ["--authorization-mode=RBAC", "--endpoint-reconciler-type=none"]),
        ], log)
        self.procs["kube-apiserver"] = proc
        reason = wait_until(lambda: self.get("/readyz")[0] == 200, proc, 90)
        if reason:
            raise ComponentError("kube-apiserver", binary, self.api_port, log, reason)

    def _node_flags(self) -> list[str]:
        """A kubelet joins: the Node authorizer and NodeRestriction admission keep it to its own
        objects; the API server reaches it (logs, exec) with a client certificate and checks its
        serving certificate; the ``kubernetes`` Service gets this server as its endpoint; the
        aggregation layer (metrics-server) is trusted through a front-proxy client certificate."""
        kubelet_cert, kubelet_key = self.ca.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("system:masters",))
        proxy_cert, proxy_key = self.ca.issue("front-proxy-client", "front-proxy-client")
        return [
            "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
            "--endpoint-reconciler-type=lease",
            f"--kubelet-client-certificate={kubelet_cert}", f"--kubelet-client-key={kubelet_key}",
            f"--kubelet-certificate-authority={self.ca.cert_path}",
            "--kubelet-preferred-address-types=InternalIP",
            f"--requestheader-client-ca-file={self.ca.cert_path}", "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={proxy_cert}", f"--proxy-client-key-file={proxy_key}",
            "--enable-aggregator-routing=true",
        ]

    def _start_controller_manager(self) -> None:
        binary = tool("kube-controller-manager")
        log = self.base_dir / "kube-controller-manager.log"
        kubeconfig = self.write_kubeconfig(self.base_dir / "kcm.kubeconfig", "system:kube-controller-manager", ("system:masters",))
        proc = spawn([
            binary, f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}", f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={self.kcm_port}",
            f"--service-account-private-key-file={self.sa_key}", f"--root-ca-file={self.ca.cert_path}",
            "--use-service-account-credentials=false", "--controllers=*",
            "--cluster-signing-duration=1h", "--concurrent-gc-syncs=5", "--v=1",
        ], log)
        self.procs["kube-controller-manager"] = proc
        # Ready once it has created the default namespace's ServiceAccount.
        reason = wait_until(
            lambda: self.get("/api/v1/namespaces/default/serviceaccounts/default")[0] == 200, proc, 60)
        if reason:
            raise ComponentError("kube-controller-manager", binary, self.kcm_port, log, reason)

    def stop(self) -> None:
        for name in ("kube-controller-manager", "kube-apiserver", "etcd"):
            stop(self.procs.pop(name, None))

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    # -- helpers -----------------------------------------------------------------------
    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run([tool("kubectl"), f"--kubeconfig={self.kubeconfig}", *args], input=input,
                           capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {r.stderr.strip()}")
        return r

    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
