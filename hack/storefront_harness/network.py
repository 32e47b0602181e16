"""The node's network on this machine, and putting the machine back as it was.

Every address lives in 198.18.0.0/15 (RFC 2544, reserved for benchmarking), so nothing here can
be mistaken for a real network: the node's address is a /32 on ``lo`` (this kernel has no
``dummy`` links), pods sit on a bridge of their own, and Services are virtual addresses that
kube-proxy translates. Nothing is masqueraded to the outside, and a FORWARD rule refuses any
packet from the pod range to an address outside 198.18.0.0/15.

Starting records what it changes (sysctls, the iptables rule set, network namespaces) and
``restore`` undoes it, so the machine is left as it was found.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ComponentError

# Sysctls the node needs: routing between the bridge and Services, and iptables seeing bridged
# traffic (kube-proxy's Service rules apply to pod-to-pod traffic through a ClusterIP).
_SYSCTLS = {
    "net/ipv4/ip_forward": "1",
    "net/bridge/bridge-nf-call-iptables": "1",
}
_GUARD_CHAIN = "STOREFRONT-NODE-EGRESS"
_LOCK = Path("/run/lock/storefront-node.lock")
# The machine's own sysctl values while a node has changed them: a run killed outright leaves
# this file, and the next node restores them from it instead of taking the node's values for
# the machine's.
_SYSCTLS_SAVED = Path("/run/lock/storefront-node.sysctls.json")


@dataclass(frozen=True)
class NodeNetwork:
    """The address plan of the one node this machine can hold at a time."""

    node_ip: str = "198.18.1.1"
    pod_cidr: str = "198.18.0.0/24"
    service_cidr: str = "198.18.2.0/24"
    bridge: str = "sfnode0"
    contained_in: str = "198.18.0.0/15"

    @property
    def gateway(self) -> str:
        return str(next(ipaddress.ip_network(self.pod_cidr).hosts()))

    @property
    def prefix_len(self) -> int:
        return ipaddress.ip_network(self.pod_cidr).prefixlen


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise ComponentError("node network", args[0], None, None, f"`{' '.join(args)}` failed: {r.stderr.strip()}")
    return r


_NODE_CHAIN = re.compile(rf"^(KUBE-|CNI-|{_GUARD_CHAIN}$)")


def _without_node_chains(rules: str) -> str:
    """An iptables-save text without the node's chains and the rules that use them."""
    kept = []
    for line in rules.splitlines():
        fields = line.split()
        if line.startswith(":") and _NODE_CHAIN.match(line[1:].split()[0]):
            continue
        if line.startswith("-A") and (_NODE_CHAIN.match(fields[1]) or
                                      ("-j" in fields and _NODE_CHAIN.match(fields[fields.index("-j") + 1]))):
            continue
        kept.append(line)
    return "\n".join(kept) + "\n"


def _netns() -> set[str]:
    try:
        return set(os.listdir("/run/netns"))
    except FileNotFoundError:
        return set()


@dataclass
class HostNetwork:
    """Brings the plan up on this machine and takes it down again."""

    plan: NodeNetwork
    _sysctls: dict[str, str] = field(default_factory=dict)
    _iptables: str | None = None
    _netns_before: set[str] = field(default_factory=set)
    _lock: int | None = None
    lock_timeout: float = 1200

    def up(self, clear_leftovers: Callable[[], None] | None = None) -> None:
        """``clear_leftovers`` runs once the lock is held, before anything is recorded: it
        removes what a run that was killed outright left behind (its processes, mounts and
        iptables chains), so the recorded state is the machine's own."""
        if os.geteuid() != 0:
            raise ComponentError("node network", "ip", None, None, "a node needs root (network, cgroups, mounts)")
        self._take_lock()
        try:
            if clear_leftovers is not None:
                clear_leftovers()
            self._clear_leftovers()
        except BaseException:
            self._release_lock()
            raise
        self._netns_before = _netns()
        self._iptables = _run("iptables-save").stdout
        for key in _SYSCTLS:
            path = Path("/proc/sys") / key
            if not path.exists():
                raise ComponentError("node network", "sysctl", None, None,
                                     f"{path} is missing: the kernel needs bridge netfilter (br_netfilter)")
            self._sysctls[key] = path.read_text().strip()
        _SYSCTLS_SAVED.write_text(json.dumps(self._sysctls))
        for key, value in _SYSCTLS.items():
            (Path("/proc/sys") / key).write_text(value)
        p = self.plan
        _run("ip", "addr", "add", f"{p.node_ip}/32", "dev", "lo")
        # The bridge exists before the first pod, so the node's routes are there from the start;
        # the CNI bridge plugin adopts it.
        _run("ip", "link", "add", p.bridge, "type", "bridge")
        _run("ip", "addr", "add", f"{p.gateway}/{p.prefix_len}", "dev", p.bridge)
        _run("ip", "link", "set", p.bridge, "up")
        # Service addresses leave this machine's own connections towards the bridge, where
        # kube-proxy's rules translate them; the rest of the reserved range goes nowhere, so no
        # packet for it can follow the default route out.
        _run("ip", "route", "add", p.service_cidr, "dev", p.bridge, "src", p.gateway)
        _run("ip", "route", "add", "unreachable", p.contained_in)
        _run("iptables", "-N", _GUARD_CHAIN)
        _run("iptables", "-A", _GUARD_CHAIN, "-s", p.pod_cidr, "!", "-d", p.contained_in, "-j", "REJECT")
        _run("iptables", "-I", "FORWARD", "1", "-j", _GUARD_CHAIN)

    def down(self, cleanup_iptables: list[str] | None = None) -> list[str]:
        """Undoes ``up``; returns what could not be undone (for the caller to report)."""
        problems: list[str] = []

        def attempt(what: str, *args: str) -> None:
            r = _run(*args, check=False)
            if r.returncode != 0:
                problems.append(f"{what}: {r.stderr.strip()}")

        for name in sorted(_netns() - self._netns_before):
            attempt(f"network namespace {name}", "ip", "netns", "delete", name)
        if cleanup_iptables:
            _run(*cleanup_iptables, check=False)
        if self._iptables is not None:
            r = subprocess.run(["iptables-restore"], input=self._iptables, capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                problems.append(f"iptables-restore: {r.stderr.strip()}")
            self._iptables = None
        if Path(f"/sys/class/net/{self.plan.bridge}").exists():
            attempt("bridge", "ip", "link", "delete", self.plan.bridge)
        if _run("ip", "route", "show", "type", "unreachable", self.plan.contained_in).stdout.strip():
            attempt("unreachable route", "ip", "route", "del", "unreachable", self.plan.contained_in)
        if self.plan.node_ip in _run("ip", "-o", "addr", "show", "dev", "lo").stdout:
            attempt("node address", "ip", "addr", "del", f"{self.plan.node_ip}/32", "dev", "lo")
        for key, value in self._sysctls.items():
            try:
                (Path("/proc/sys") / key).write_text(value)
            except OSError as exc:
                problems.append(f"sysctl {key}: {exc}")
        if self._sysctls and not problems:
            _SYSCTLS_SAVED.unlink(missing_ok=True)
        self._sysctls.clear()
        self._release_lock()
        return problems

    # -- one node per machine ----------------------------------------------------------
    def _take_lock(self) -> None:
        """Waits (bounded) for another run's node to stop: two cannot share the addresses."""
        _LOCK.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self.lock_timeout
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise ComponentError("node network", "flock", None, None,
                                         f"another harness node is still running on this machine after "
                                         f"{self.lock_timeout:.0f}s (it holds {_LOCK})") from None
                if not announced:
                    print(f"[node] waiting for another harness node to stop (it holds {_LOCK})", flush=True)
                    announced = True
                time.sleep(2)
        self._lock = fd

    def _release_lock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def _clear_leftovers(self) -> None:
        """A run that was killed outright left its bridge, address or guard rule: with the lock
        held, no live node owns them."""
        p = self.plan
        if _SYSCTLS_SAVED.exists():
            for key, value in json.loads(_SYSCTLS_SAVED.read_text()).items():
                (Path("/proc/sys") / key).write_text(value)
            _SYSCTLS_SAVED.unlink()
        if Path(f"/sys/class/net/{p.bridge}").exists():
            _run("ip", "link", "delete", p.bridge, check=False)
        if p.node_ip in _run("ip", "-o", "addr", "show", "dev", "lo").stdout:
            _run("ip", "addr", "del", f"{p.node_ip}/32", "dev", "lo", check=False)
        _run("ip", "route", "del", "unreachable", p.contained_in, check=False)
        # The chains of the kubelet (KUBE-FIREWALL, canaries), kube-proxy, the CNI portmap plugin
        # and our guard, with every rule that jumps to them: none belongs to a live node.
        saved = _run("iptables-save").stdout
        kept = _without_node_chains(saved)
        if kept != saved:
            r = subprocess.run(["iptables-restore"], input=kept, capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                raise ComponentError("node network", "iptables-restore", None, None,
                                     f"removing a killed run's chains failed: {r.stderr.strip()}")
