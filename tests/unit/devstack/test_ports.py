"""Ports of the local stack: who holds one (from /proc), and how they are chosen."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from devstack.ports import (
    PortSpecError,
    can_bind,
    describe_holder,
    holders,
    listening_inodes,
    parse_port_spec,
)
from devstack.stack import StackPorts


@pytest.fixture
def listener() -> Iterator[int]:
    """A socket of this test process listening on a free port of 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_listening_port_cannot_be_bound_and_its_holder_is_named(listener: int) -> None:
    assert not can_bind(listener)
    assert holders(listening_inodes(listener)) == {os.getpid()}
    assert describe_holder(listener).startswith(f"PID {os.getpid()} (")


def test_a_closed_port_is_free_and_held_by_nobody() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening
    assert can_bind(port)
    assert listening_inodes(port) == set()
    assert describe_holder(port) == "a process this user cannot see"


def test_a_connected_socket_is_not_a_listener(listener: int) -> None:
    """Only LISTEN sockets count: a client connected to the port holds none of its own."""
    with socket.create_connection(("127.0.0.1", listener)):
        assert len(listening_inodes(listener)) == 1


def test_port_spec() -> None:
    names = StackPorts.names()
    assert set(names) == {"gateway", "litellm", "redis", "emulator", "receiver"}
    assert parse_port_spec("gateway=9002, litellm=5000", names) == {
        "gateway": 9002,
        "litellm": 5000,
    }
    assert parse_port_spec("", names) == {}
    for bad in ("gateway", "gatway=9002", "gateway=x", "gateway=0", "redis=65536"):
        with pytest.raises(PortSpecError):
            parse_port_spec(bad, names)


def test_ports_chosen_by_offset_then_by_name() -> None:
    assert StackPorts.chosen() == StackPorts.documented()
    moved = StackPorts.chosen(100, {"litellm": 5000})
    assert moved == StackPorts(redis=6479, emulator=8190, receiver=3100, litellm=5000, gateway=8102)
    with pytest.raises(PortSpecError, match="litellm and gateway on 9000"):
        StackPorts.chosen(0, {"gateway": 9000, "litellm": 9000})
    with pytest.raises(PortSpecError, match="offset 60000"):
        StackPorts.chosen(60000)
