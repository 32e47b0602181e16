"""Redis Cluster wiring against real ``redis-server --cluster-enabled yes`` nodes."""

from __future__ import annotations

import pytest
import redis
from sfop_support import wait_for

from storefront_operator.redis_cluster import (
    SLOTS,
    WIRING_ACTIONS,
    even_ranges,
    parse_nodes,
    uncovered,
    wire_cluster,
)


def test_even_ranges_cover_every_slot_once():
    for count in (1, 3, 5, 7):
        ranges = even_ranges(count)
        sizes = [hi - lo + 1 for lo, hi in ranges]
        assert sum(sizes) == SLOTS and max(sizes) - min(sizes) <= 1
        assert ranges[0][0] == 0 and ranges[-1][1] == SLOTS - 1


def test_uncovered_finds_gaps():
    assert uncovered([(0, 99), (200, SLOTS - 1)]) == [(100, 199)]
    assert uncovered([]) == [(0, SLOTS - 1)]


def test_parse_nodes_reads_flags_and_slots():
    line = "abc 10.0.0.1:6379@16379 myself,master - 0 0 1 connected 0-5460 [5461->-def]\n" \
           "def 10.0.0.2:6379@16379 slave abc 0 0 1 connected\n"
    views = parse_nodes(line)
    assert views[0].slots == [(0, 5460)] and views[0].is_master
    assert views[1].master_id == "abc" and "slave" in views[1].flags


def _usable(cluster) -> None:
    client = redis.RedisCluster(host="127.0.0.1", port=cluster.nodes[0].port, socket_timeout=3)
    try:
        for i in range(50):
            client.set(f"key-{i}", i)
        assert [int(client.get(f"key-{i}")) for i in range(50)] == list(range(50))
    finally:
        client.close()


def test_three_bare_nodes_become_one_healthy_cluster(redis_cluster_factory):
    cluster = redis_cluster_factory(3)
    report = wire_cluster(cluster.addresses)
    assert report.ok, report
    assert report.masters == 3 and sorted(report.nodes) == sorted(cluster.addresses)
    for node in cluster.nodes:
        assert "cluster_state:ok" in cluster.cluster_info(node)
    _usable(cluster)
    again = wire_cluster(cluster.addresses)
    assert again.ok and not [a for a in again.actions if not a.startswith("skipped")], again.actions


def test_replicas_per_master_are_honoured(redis_cluster_factory):
    cluster = redis_cluster_factory(6)
    report = wire_cluster(cluster.addresses, replicas_per_master=1)
    assert report.ok, report
    assert (report.masters, report.replicas) == (3, 3)
    # Each action has its kind, from the bounded set the operator's metric is labelled with
    # (a node's address never becomes a label value).
    assert len(report.kinds) == len(report.actions)
    assert report.kinds.count("assigned") == 3 and report.kinds.count("replicated") == 3
    assert set(report.kinds) <= set(WIRING_ACTIONS)


def test_a_replaced_node_is_healed(redis_cluster_factory):
    cluster = redis_cluster_factory(3)
    assert wire_cluster(cluster.addresses).ok
    victim = cluster.nodes[1]
    victim.wipe()
    victim.start()
    # The survivors mark the old id noaddr: its slots are served by no one until the heal.
    wait_for(lambda: "noaddr" in redis.Redis(port=cluster.nodes[0].port, decode_responses=True)
             .execute_command("CLUSTER", "NODES"), 15, message="the cluster to notice the replacement")
    report = wire_cluster(cluster.addresses)
    assert report.ok, report
    assert any(a.startswith("forgot") for a in report.actions)
    assert any("orphaned" in a for a in report.actions)
    assert {"forgot", "reassigned"} <= set(report.kinds)
    for node in cluster.nodes:
        info = cluster.cluster_info(node)
        assert "cluster_state:ok" in info and "cluster_slots_ok:16384" in info
        assert len(parse_nodes(redis.Redis(port=node.port, decode_responses=True).execute_command("CLUSTER", "NODES"))) == 3
    _usable(cluster)


def test_no_cluster_is_formed_while_a_node_is_unreachable(redis_cluster_factory):
    cluster = redis_cluster_factory(3)
    cluster.nodes[2].stop()
    report = wire_cluster(cluster.addresses, timeout=0.5, settle_seconds=3)
    assert cluster.nodes[2].address in report.unreachable
    assert not report.ok and "unreachable" in report.message
    assert "cluster_slots_assigned:0" in cluster.cluster_info(cluster.nodes[0])


def _node_ids(cluster):
    return {redis.Redis(port=n.port, decode_responses=True).execute_command("CLUSTER", "MYID") for n in cluster.nodes}


def test_a_node_that_is_only_down_keeps_its_identity_and_slots(redis_cluster_factory):
    cluster = redis_cluster_factory(3)
    assert wire_cluster(cluster.addresses).ok
    ids = _node_ids(cluster)
    down = cluster.nodes[1]
    down.stop()  # keeps nodes.conf: a restart, not a replacement
    wait_for(lambda: "cluster_state:fail" in cluster.cluster_info(cluster.nodes[0]), 20, message="the cluster to notice")
    report = wire_cluster(cluster.addresses, timeout=0.5, settle_seconds=2)
    assert not report.ok and down.address in report.unreachable
    assert not [a for a in report.actions if a.startswith(("forgot", "gave", "spread"))], report.actions
    down.start()
    report = wire_cluster(cluster.addresses)
    assert report.ok, report
    assert _node_ids(cluster) == ids
    _usable(cluster)


# -- through a reconcile: discovery by pod selector, the ConfigMap the app reads, RedisReady ----


def _redis_pod(kube, namespace, index, port):
    name = f"redis-{index}"
    kube.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace, "labels": {"app": "redis"}},
                 "spec": {"automountServiceAccountToken": False, "containers": [{
                     "name": "redis", "image": "redis:7", "ports": [{"name": "redis", "containerPort": port}]}]}})
    # No kubelet: report the pod running on loopback, where the real node listens.
    kube.merge_patch("Pod", namespace, name, {"status": {"phase": "Running", "podIP": "127.0.0.1",
                                                         "podIPs": [{"ip": "127.0.0.1"}]}}, subresource="status")


@pytest.mark.kube
def test_reconcile_forms_and_heals_the_cluster_and_hands_over_the_nodes(kube, namespace, redis_cluster_factory):
    from sfop_support import condition, create_storefront

    from storefront_operator.reconcile import reconcile
    from storefront_operator.settings import Settings

    cluster = redis_cluster_factory(3)
    wait_for(lambda: kube.get("ServiceAccount", namespace, "default"), 30, message="the default ServiceAccount")
    for i, node in enumerate(cluster.nodes):
        _redis_pod(kube, namespace, i, node.port)
    create_storefront(kube, namespace, redis={"mode": "cluster", "nodes": {"selector": {"app": "redis"}}})
    settings = Settings(resync_seconds=2)
    reconcile(kube, namespace, "shop", settings)
    sf = kube.get("Storefront", namespace, "shop")
    ready = condition(sf, "RedisReady")
    assert ready["status"] == "True" and ready["reason"] == "ClusterOK", ready
    assert sorted(sf["status"]["redisNodes"]) == sorted(cluster.addresses)
    data = kube.get("ConfigMap", namespace, "shop-redis")["data"]
    assert data["STOREFRONT_REDIS_MODE"] == "cluster"
    assert sorted(data["STOREFRONT_REDIS_CLUSTER_NODES"].split(",")) == sorted(cluster.addresses)
    for node in cluster.nodes:
        assert "cluster_state:ok" in cluster.cluster_info(node)
    wired = [e for e in kube.list("Event", namespace) if e["reason"] == "RedisClusterWired"]
    assert wired and "assigned slots" in wired[0]["message"]

    cluster.nodes[0].wipe()
    cluster.nodes[0].start()
    reconcile(kube, namespace, "shop", settings)
    healed = condition(kube.get("Storefront", namespace, "shop"), "RedisReady")
    assert healed["status"] == "True", healed
    for node in cluster.nodes:
        assert "cluster_slots_ok:16384" in cluster.cluster_info(node)
    _usable(cluster)
