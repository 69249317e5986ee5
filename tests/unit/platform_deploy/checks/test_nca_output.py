"""Reading nca's connectivity map, and comparing it with the table, on fixed inputs."""

from __future__ import annotations

import pytest

from platform_deploy.checks.allowed_paths import load_allowed_paths
from platform_deploy.checks.connectivity import differences
from platform_deploy.checks.nca import ALL, EXTERNAL, Connection, NcaError, parse

OUTPUT = """\
global: cluster has 3 unique endpoints, 2 namespaces
0.0.0.0-255.255.255.255 => default/other-0[Pod] : All connections
default/gw-0[Pod] => langfuse/web-0[Pod] : {protocols:TCP,dst_ports:3000,8000-8002,9000}
default/gw-0[Pod] => langfuse/web-0[Pod] : {protocols:UDP,dst_ports:53}
default/gateway[Deployment] => default/litellm[Deployment] : {protocols:TCP,dst_ports:4000}
"""


def test_parse_reads_endpoints_and_ports() -> None:
    connections = {(c.source, c.destination): c.allowed for c in parse(OUTPUT)}
    assert connections[(EXTERNAL, "default/other-0")] == {ALL}
    assert connections[("default/gw-0", "langfuse/web-0")] == {
        "TCP/3000",
        "TCP/8000",
        "TCP/8001",
        "TCP/8002",
        "TCP/9000",
        "UDP/53",
    }
    assert connections[("default/gateway", "default/litellm")] == {"TCP/4000"}


def test_parse_refuses_what_it_does_not_understand() -> None:
    with pytest.raises(NcaError, match="unreadable"):
        parse("a/b[Pod] => c/d[Pod] : {protocols:TCP,dst_ports:80} and more")


def _everything_as_the_table_says() -> list[Connection]:
    allowed = load_allowed_paths()
    return [
        Connection(source, destination, frozenset(f"TCP/{port}" for port in ports))
        for (source, destination), ports in allowed.expected("prod").items()
    ]


def test_differences_are_empty_when_connectivity_is_the_table() -> None:
    allowed = load_allowed_paths()
    workloads = allowed.protected_workloads("prod")
    assert differences(_everything_as_the_table_says(), allowed, "prod", workloads) == []


def test_differences_name_a_closed_path_an_extra_port_and_an_open_path() -> None:
    allowed = load_allowed_paths()
    connections = [
        c
        for c in _everything_as_the_table_says()
        if (c.source, c.destination) != ("langfuse/langfuse-web", "default/redis")
    ]
    connections.append(Connection("default/litellm", "default/gateway", frozenset({ALL})))
    connections = [
        Connection(c.source, c.destination, c.allowed | {"TCP/9001"})
        if c.destination == "langfuse/langfuse-s3"
        else c
        for c in connections
    ]
    found = differences(connections, allowed, "prod", allowed.protected_workloads("prod"))
    assert any(
        d.startswith("langfuse/langfuse-web -> default/redis: the policies allow nothing")
        for d in found
    )
    assert any(d.startswith("default/litellm -> default/gateway: open (all)") for d in found)
    assert any("langfuse/langfuse-s3" in d and "TCP/9001" in d for d in found)


def test_a_protected_workload_missing_from_the_topology_is_a_difference() -> None:
    allowed = load_allowed_paths()
    workloads = allowed.protected_workloads("prod") - {"default/redis"}
    found = differences(_everything_as_the_table_says(), allowed, "prod", workloads)
    assert "default/redis: protected in prod but not in the topology" in found
