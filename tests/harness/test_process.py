"""Ports for the harness's servers come from below the ephemeral range, where no client socket
can take them between the choice and the server's bind."""

from __future__ import annotations

import socket

from storefront_harness.process import _ephemeral_range, free_port


def test_free_ports_are_bindable_and_outside_the_ephemeral_range():
    low, _ = _ephemeral_range()
    drawn = [free_port() for _ in range(50)]
    ports = set(drawn)
    assert all(port < low for port in ports)
    # Never the same twice: a port chosen but not yet bound (a Redis node's data port while the
    # next node picks its cluster bus port) passes the bind check, so only memory prevents it.
    assert len(ports) == len(drawn)
    for port in list(ports)[:5]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", port))


def test_a_port_in_use_is_never_handed_out():
    listeners = []
    try:
        for _ in range(20):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", free_port()))
            s.listen()
            listeners.append(s)
        taken = {s.getsockname()[1] for s in listeners}
        assert not taken & {free_port() for _ in range(200)}
    finally:
        for s in listeners:
            s.close()
