"""Throw-away Redis servers (Debian's ``redis-server``): standalone or cluster-mode nodes."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from .errors import ComponentError
from .process import free_port, spawn, stop, wait_until


def _ping(port: int) -> bool:
    r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "PING"], capture_output=True, text=True)
    return r.stdout.strip() == "PONG"


class RedisServer:
    def __init__(self, base_dir: Path | None = None, port: int | None = None, cluster: bool = False,
                 password: str | None = None):
        if not shutil.which("redis-server"):
            raise ComponentError("Redis", "redis-server", None, None, "redis-server not on PATH: install redis-server")
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="sf-redis-"))
        self.port = port or free_port()
        self.cluster = cluster
        self.bus_port = free_port() if cluster else None
        self.password = password
        self.log = self.base_dir / "redis.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 15) -> RedisServer:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.base_dir),
                "--save", "", "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no"]
        if self.cluster:
            # Redis 7 takes an explicit bus port, so a high data port is fine.
            args += ["--cluster-enabled", "yes", "--cluster-port", str(self.bus_port), "--cluster-config-file", str(self.base_dir / "nodes.conf"),
                     "--cluster-node-timeout", "2000"]
        if self.password:
            args += ["--requirepass", self.password, "--masterauth", self.password]
        self.proc = spawn(args, self.log, cwd=self.base_dir)
        reason = wait_until(lambda: self._ping(), self.proc, timeout)
        if reason:
            self.stop()
            raise ComponentError("Redis", "redis-server", self.port, self.log, reason)
        return self

    def _ping(self) -> bool:
        if self.password:
            r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), "--no-auth-warning",
                                "-a", self.password, "PING"], capture_output=True, text=True)
            return r.stdout.strip() == "PONG"
        return _ping(self.port)

    def stop(self) -> None:
        stop(self.proc)
        self.proc = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def wipe(self) -> None:
        """Forgets the node's identity and data, as a replaced pod would."""
        self.stop()
        for name in ("nodes.conf", "dump.rdb"):
            (self.base_dir / name).unlink(missing_ok=True)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


class RedisCluster:
    """N ``--cluster-enabled yes`` nodes, started but not joined: forming them is the operator's job.

    :meth:`form` joins them with ``redis-cli --cluster create`` for tests that only need a
    working cluster.
    """

    def __init__(self, size: int = 3, base_dir: Path | None = None):
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="sf-rcluster-"))
        self.nodes = [RedisServer(self.base_dir / f"node-{i}", cluster=True) for i in range(size)]

    def start(self) -> RedisCluster:
        try:
            for node in self.nodes:
                node.start()
        except BaseException:
            self.destroy()
            raise
        return self

    def form(self, replicas: int = 0, timeout: float = 30) -> None:
        addrs = [n.address for n in self.nodes]
        r = subprocess.run(
            ["redis-cli", "--cluster", "create", *addrs, "--cluster-replicas", str(replicas), "--cluster-yes"],
            capture_output=True, text=True, timeout=timeout,
        )
        if r.returncode != 0:
            raise ComponentError("Redis cluster", "redis-cli --cluster create", self.nodes[0].port, None, r.stdout + r.stderr)
        first = self.nodes[0]
        reason = wait_until(lambda: "cluster_state:ok" in self.cluster_info(first), first.proc, timeout)
        if reason:
            raise ComponentError("Redis cluster", "redis-server", first.port, first.log, reason)

    @staticmethod
    def cluster_info(node: RedisServer) -> str:
        r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(node.port), "CLUSTER", "INFO"],
                           capture_output=True, text=True)
        return r.stdout

    @property
    def addresses(self) -> list[str]:
        return [n.address for n in self.nodes]

    def destroy(self) -> None:
        for node in self.nodes:
            node.destroy()
        shutil.rmtree(self.base_dir, ignore_errors=True)
