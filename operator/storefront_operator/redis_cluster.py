"""Redis Cluster wiring: form a cluster from bare nodes and heal it when a node is replaced.

``wire_cluster`` is a plain function of node addresses, so it runs the same against pods
found through the API and against local test nodes. Every command has a socket timeout:
an unreachable node is reported, never waited on forever.
"""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

SLOTS = 16384


class ClusterWiringError(RuntimeError):
    pass


@dataclass
class NodeView:
    """One line of CLUSTER NODES."""
    node_id: str
    address: str  # ip:port, empty ip while the node knows no one
    flags: set[str]
    master_id: str | None
    link: str
    slots: list[tuple[int, int]]

    @property
    def is_master(self) -> bool:
        return "master" in self.flags

    @property
    def failed(self) -> bool:
        return bool(self.flags & {"fail", "noaddr"})


# The kinds of action wiring takes: a bounded set, so they can label a metric.
WIRING_ACTIONS = ("skipped", "forgot", "met", "assigned", "replicated", "reassigned")


@dataclass
class ClusterReport:
    state: str = "unknown"
    nodes: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)  # what was done, for status and Events
    kinds: list[str] = field(default_factory=list)  # the kind of each action, one of WIRING_ACTIONS
    masters: int = 0
    replicas: int = 0
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.state == "ok"

    def act(self, kind: str, text: str) -> None:
        if kind not in WIRING_ACTIONS:
            raise ValueError(f"unknown wiring action {kind!r}")
        self.kinds.append(kind)
        self.actions.append(text)


def parse_nodes(text: str) -> list[NodeView]:
    views = []
    for line in text.strip().splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        slots: list[tuple[int, int]] = []
        for item in parts[8:]:
            if item.startswith("["):
                continue  # slot in migration
            lo, _, hi = item.partition("-")
            slots.append((int(lo), int(hi or lo)))
        views.append(NodeView(
            node_id=parts[0], address=parts[1].split("@")[0], flags=set(parts[2].split(",")),
            master_id=None if parts[3] == "-" else parts[3], link=parts[7], slots=slots,
        ))
    return views


def even_ranges(count: int) -> list[tuple[int, int]]:
    """16384 slots in ``count`` contiguous ranges whose sizes differ by at most one."""
    base, extra = divmod(SLOTS, count)
    ranges, start = [], 0
    for i in range(count):
        size = base + (1 if i < extra else 0)
        ranges.append((start, start + size - 1))
        start += size
    return ranges


def uncovered(covered: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The slot ranges no live master serves."""
    taken = [False] * SLOTS
    for lo, hi in covered:
        for s in range(lo, hi + 1):
            taken[s] = True
    gaps, start = [], None
    for s in range(SLOTS):
        if not taken[s] and start is None:
            start = s
        elif taken[s] and start is not None:
            gaps.append((start, s - 1))
            start = None
    if start is not None:
        gaps.append((start, SLOTS - 1))
    return gaps


class _Node:
    def __init__(self, address: str, password: str | None, timeout: float):
        host, _, port = address.rpartition(":")
        self.address = address
        self.ip = socket.gethostbyname(host.strip("[]"))
        self.port = int(port)
        self.node_id = ""
        # No client-side retries: the reconcile loop is the retry, and each retry would multiply
        # the time an unreachable node holds a worker.
        self.client = redis.Redis(host=self.ip, port=self.port, password=password, socket_timeout=timeout,
                                  socket_connect_timeout=timeout, decode_responses=True, retry=Retry(NoBackoff(), 0))

    def cmd(self, *args):
        return self.client.execute_command(*args)

    def myid(self) -> str:
        return self.cmd("CLUSTER", "MYID")

    def bus_port(self) -> int:
        port = int(self.cmd("CONFIG", "GET", "cluster-port").get("cluster-port", 0))
        return port or self.port + 10000

    def views(self) -> list[NodeView]:
        return parse_nodes(self.cmd("CLUSTER", "NODES"))

    def state(self) -> str:
        info = self.cmd("CLUSTER", "INFO")
        for line in info.splitlines():
            if line.startswith("cluster_state:"):
                return line.split(":", 1)[1].strip()
        return "unknown"

    def close(self) -> None:
        self.client.close()


def _wait(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise ClusterWiringError(f"timed out after {timeout:.0f}s waiting for {what}")


def _connect(addresses: list[str], password: str | None, timeout: float, report: ClusterReport) -> list[_Node]:
    """Connects to every node at once, so unreachable nodes cost one timeout, not one each."""
    def attempt(address: str) -> _Node | Exception:
        try:
            node = _Node(address, password, timeout)
            node.node_id = node.myid()
            return node
        except (redis.RedisError, OSError) as exc:
            return exc

    targets = sorted(set(addresses))
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(targets))) as pool:
        results = list(pool.map(attempt, targets))
    nodes = []
    for address, result in zip(targets, results, strict=True):
        if isinstance(result, Exception):
            report.unreachable.append(address)
            report.act("skipped", f"skipped unreachable {address}: {result.__class__.__name__}")
        else:
            nodes.append(result)
    return nodes


def wire_cluster(addresses: list[str], replicas_per_master: int = 0, password: str | None = None,
                 timeout: float = 3.0, settle_seconds: float = 20.0) -> ClusterReport:
    """Brings the nodes at ``addresses`` to one healthy cluster; idempotent.

    Forms the cluster when no node serves slots; otherwise forgets members that are gone or were
    replaced (same address, new id), meets newcomers, hands orphaned slots to an empty master or
    makes newcomers replicas of the master with the fewest replicas.
    """
    report = ClusterReport()
    nodes = _connect(addresses, password, timeout, report)
    try:
        if not nodes:
            report.state, report.message = "fail", "no Redis node is reachable"
            return report
        live_ids = {n.node_id: n for n in nodes}
        id_of = {f"{n.ip}:{n.port}": n.node_id for n in nodes}
        fresh = all(not any(v.slots for v in n.views()) for n in nodes)
        if fresh and report.unreachable:
            # Forming without them would shape the cluster around a node count that is wrong.
            report.state = "fail"
            report.message = f"waiting for {len(report.unreachable)} unreachable node(s) before forming the cluster"
            report.nodes = [f"{n.ip}:{n.port}" for n in nodes]
            return report
        if fresh:
            for epoch, node in enumerate(nodes, start=1):
                try:
                    node.cmd("CLUSTER", "SET-CONFIG-EPOCH", epoch)
                except redis.ResponseError:
                    pass  # already has an epoch or knows other nodes; collisions resolve themselves
        _forget_departed(nodes, live_ids, report.unreachable, report)
        _meet_all(nodes, id_of, report)
        _wait(lambda: _all_know_each_other(nodes, set(live_ids)), settle_seconds, "the nodes to know each other")
        if fresh:
            _assign_fresh(nodes, replicas_per_master, report)
        else:
            _heal(nodes, replicas_per_master, report, settle_seconds)
        try:
            _wait(lambda: all(n.state() == "ok" for n in nodes), settle_seconds, "cluster_state:ok on every node")
        except ClusterWiringError as exc:
            report.message = str(exc)
        views = nodes[0].views()
        report.state = nodes[0].state()
        report.masters = sum(1 for v in views if v.is_master and v.slots and not v.failed)
        report.replicas = sum(1 for v in views if "slave" in v.flags and not v.failed)
        report.nodes = [f"{n.ip}:{n.port}" for n in nodes]
        if not report.message:
            report.message = f"{report.masters} masters, {report.replicas} replicas, cluster_state:{report.state}"
        return report
    except (redis.RedisError, OSError) as exc:
        report.state, report.message = "fail", f"Redis error while wiring: {exc}"
        return report
    except ClusterWiringError as exc:
        report.state, report.message = "fail", str(exc)
        return report
    finally:
        for node in nodes:
            node.close()


def _forget_departed(nodes: list[_Node], live_ids: dict[str, _Node], unreachable: list[str], report: ClusterReport) -> None:
    """Forgets members that are gone for good, and only those: an id whose address now answers
    with another id (a replaced pod), or one the cluster flags failed whose address is no longer
    among the nodes at all. A node that is merely unreachable keeps its identity and its slots,
    so it can come back without anyone having taken them over."""
    live_addresses = {f"{n.ip}:{n.port}" for n in nodes}
    waiting = set(unreachable)
    departed: set[str] = set()
    for node in nodes:
        for view in node.views():
            if view.node_id in live_ids:
                continue
            replaced = view.address in live_addresses
            gone = view.failed and view.address not in waiting
            if replaced or gone:
                departed.add(view.node_id)
    for dead in sorted(departed):
        for node in nodes:
            known = {v.node_id: v for v in node.views()}
            if dead not in known:
                continue
            me = next(v for v in known.values() if "myself" in v.flags)
            if me.master_id == dead:
                continue  # a replica cannot forget its own master; it will be re-pointed below
            try:
                node.cmd("CLUSTER", "FORGET", dead)
            except redis.ResponseError:
                pass
        report.act("forgot", f"forgot departed node {dead[:8]}")


def _meet_all(nodes: list[_Node], id_of: dict[str, str], report: ClusterReport) -> None:
    seed = max(nodes, key=lambda n: sum(hi - lo + 1 for v in n.views() if "myself" in v.flags for lo, hi in v.slots))
    known = {v.node_id for v in seed.views()}
    for node in nodes:
        if node is seed or node.node_id in known:
            continue
        seed.cmd("CLUSTER", "MEET", node.ip, node.port, node.bus_port())
        report.act("met", f"met {node.ip}:{node.port}")


def _all_know_each_other(nodes: list[_Node], ids: set[str]) -> bool:
    for node in nodes:
        views = {v.node_id: v for v in node.views()}
        for node_id in ids:
            view = views.get(node_id)
            if view is None or "handshake" in view.flags or view.failed:
                return False
    return True


def _assign_fresh(nodes: list[_Node], replicas_per_master: int, report: ClusterReport) -> None:
    master_count = max(1, len(nodes) // (1 + replicas_per_master))
    masters, others = nodes[:master_count], nodes[master_count:]
    for node, (lo, hi) in zip(masters, even_ranges(master_count), strict=True):
        node.cmd("CLUSTER", "ADDSLOTSRANGE", lo, hi)
        report.act("assigned", f"assigned slots {lo}-{hi} to {node.ip}:{node.port}")
    for i, replica in enumerate(others):
        master = masters[i % master_count]
        _replicate(replica, master, report)


def _replicate(replica: _Node, master: _Node | str, report: ClusterReport) -> None:
    master_id = master if isinstance(master, str) else master.node_id
    _wait(lambda: any(v.node_id == master_id and v.is_master for v in replica.views()), 10, "the replica to see its master")
    replica.cmd("CLUSTER", "REPLICATE", master_id)
    report.act("replicated", f"{replica.ip}:{replica.port} replicates {master_id[:8]}")


def _slot_map(node: _Node) -> frozenset:
    return frozenset((v.node_id, tuple(v.slots)) for v in node.views() if v.is_master and v.slots)


def _heal(nodes: list[_Node], replicas_per_master: int, report: ClusterReport, settle_seconds: float) -> None:
    # A newcomer learns slot ownership by gossip: act only on a picture every node shares, or
    # slots still in flight would look orphaned.
    _wait(lambda: len({_slot_map(n) for n in nodes}) == 1, settle_seconds, "the nodes to agree on slot ownership")
    views = nodes[0].views()
    by_id = {n.node_id: n for n in nodes}
    live_views = [v for v in views if v.node_id in by_id and not v.failed]
    serving = [v for v in live_views if v.is_master and v.slots]
    # Slots of a master that is only unreachable are not orphans: it keeps them until it returns.
    orphans = uncovered([r for v in views if v.is_master for r in v.slots])
    empty = [v for v in live_views if v.is_master and not v.slots]
    if orphans and empty:
        taker = by_id[empty.pop(0).node_id]
        for lo, hi in orphans:
            taker.cmd("CLUSTER", "ADDSLOTSRANGE", lo, hi)
        report.act("reassigned", f"gave {len(orphans)} orphaned slot range(s) to {taker.ip}:{taker.port}")
    elif orphans:
        spread = serving or live_views
        for i, (lo, hi) in enumerate(orphans):
            owner = by_id[spread[i % len(spread)].node_id]
            owner.cmd("CLUSTER", "ADDSLOTSRANGE", lo, hi)
        report.act("reassigned", f"spread {len(orphans)} orphaned slot range(s) over serving masters")
    # Re-point replicas whose master is gone, and turn empty newcomers into replicas.
    serving_ids = [v.node_id for v in nodes[0].views() if v.is_master and v.slots and v.node_id in by_id]
    replica_count = {mid: 0 for mid in serving_ids}
    for v in live_views:
        if "slave" in v.flags and v.master_id in replica_count:
            replica_count[v.master_id] += 1
    if not serving_ids:
        return
    candidates = [v for v in live_views if (v.is_master and not v.slots and v.node_id not in serving_ids)
                  or ("slave" in v.flags and v.master_id not in replica_count)]
    for view in candidates:
        if replicas_per_master == 0 and view.is_master:
            continue  # nothing asks for replicas: an empty master stays as spare capacity
        master_id = min(replica_count, key=replica_count.get)
        _replicate(by_id[view.node_id], master_id, report)
        replica_count[master_id] += 1
