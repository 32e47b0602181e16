"""The node's host network leaves the machine as it found it, even after a run killed outright."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from storefront_harness import network
from storefront_harness.network import HostNetwork, NodeNetwork

pytestmark = [
    pytest.mark.node,  # takes the machine's one node slot
    pytest.mark.skipif(os.geteuid() != 0, reason="the node's network needs root"),
]

IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


def test_a_killed_runs_sysctls_are_restored_not_taken_for_the_machines() -> None:
    """A run killed outright leaves ip_forward=1 and the saved file behind: the next node
    restores the machine's value from that file, and puts it back when it goes down."""
    host = HostNetwork(NodeNetwork())
    host._take_lock()
    try:
        original = IP_FORWARD.read_text().strip()
        network._SYSCTLS_SAVED.write_text(f'{{"net/ipv4/ip_forward": "{original}"}}')
        IP_FORWARD.write_text("1" if original == "0" else "0")  # as the killed node left it
    finally:
        host._release_lock()
    host.up()
    try:
        assert IP_FORWARD.read_text().strip() == "1"  # the node's own value while it is up
        assert host._sysctls["net/ipv4/ip_forward"] == original
        assert network._SYSCTLS_SAVED.exists()
    finally:
        problems = host.down()
    assert not problems
    assert IP_FORWARD.read_text().strip() == original
    assert not network._SYSCTLS_SAVED.exists()
