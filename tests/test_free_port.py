"""The port helper of the tests and benchmarks (bench/broker_port.py): a test that asks for several ports before
starting its servers must get distinct ones, and none a client could be given as its own."""

from __future__ import annotations

import socket

from broker_port import ephemeral_ports, free_port


def test_free_port_never_hands_out_a_port_twice() -> None:
    # 1,000 plain bind(0)-and-close draws repeat a port about 40 times on Linux's 28k ephemeral range.
    ports = [free_port() for _ in range(1000)]
    assert len(set(ports)) == len(ports)
    with socket.socket() as s:  # and what it hands out is bindable
        s.bind(("127.0.0.1", ports[-1]))


def test_free_port_is_never_one_the_kernel_gives_to_outgoing_connections() -> None:
    # A client retrying a stopped server on an ephemeral port can be given that port and connect to itself.
    ephemeral = ephemeral_ports()
    assert not any(free_port() in ephemeral for _ in range(200))
