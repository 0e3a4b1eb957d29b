"""The tests' port helper: a test that asks for several ports before starting its servers must get distinct ones."""

from __future__ import annotations

import socket

from conftest import free_port


def test_free_port_never_hands_out_a_port_twice() -> None:
    # 1,000 plain bind(0)-and-close draws repeat a port about 40 times on Linux's 28k ephemeral range.
    ports = [free_port() for _ in range(1000)]
    assert len(set(ports)) == len(ports)
    with socket.socket() as s:  # and what it hands out is bindable
        s.bind(("127.0.0.1", ports[-1]))
