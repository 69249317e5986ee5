"""nca computes what every NetworkPolicy that would be applied (this repository's and the
Langfuse chart's) allows, over the rendered workloads, the Langfuse pods as the chart labels
them and the cluster's other pods; the result must be the table of allowed paths exactly.
Run by `nox -s nca` (its own environment)."""

from __future__ import annotations

import copy
from collections.abc import Mapping

import pytest

from platform_deploy.checks import nca
from platform_deploy.checks.allowed_paths import AllowedPaths, load_allowed_paths
from platform_deploy.checks.connectivity import differences
from platform_deploy.checks.langfuse_chart import Reference
from platform_deploy.checks.topology import Topology, build
from platform_deploy.config.environments import EnvironmentName
from platform_deploy.config.files import Manifest
from platform_deploy.rendering import EnvironmentRender

pytestmark = pytest.mark.skipif(
    nca.executable() is None, reason="nca is not installed here: run `nox -s nca`"
)


@pytest.fixture(scope="module")
def allowed() -> AllowedPaths:
    return load_allowed_paths()


@pytest.fixture(scope="module")
def topologies(
    rendered: dict[EnvironmentName, EnvironmentRender], reference: Reference
) -> dict[EnvironmentName, Topology]:
    return {name: build(render, reference) for name, render in rendered.items()}


def _workloads(topology: Topology) -> set[str]:
    return {
        f"{m['metadata']['namespace']}/{m['metadata']['name']}"
        for m in topology.resources
        if m["kind"] != "Namespace"
    }


def _compare(topology: Topology, allowed: AllowedPaths, environment: EnvironmentName) -> list[str]:
    connections = nca.connectivity(topology.resources, topology.policies)
    return differences(connections, allowed, environment, _workloads(topology))


def test_connectivity_is_exactly_the_table(
    topologies: dict[EnvironmentName, Topology],
    allowed: AllowedPaths,
    environment: EnvironmentName,
) -> None:
    topology = topologies[environment]
    print(f"{environment}: Langfuse pods and chart policies from {topology.langfuse_source}")
    print(f"{environment}: chart policies applied: {topology.chart_policies or 'none'}")
    assert _compare(topology, allowed, environment) == []


def _with_policy_changed(topology: Topology, name: str, change: Mapping[str, object]) -> Topology:
    policies: list[Manifest] = []
    for policy in topology.policies:
        policy = copy.deepcopy(policy)
        if policy["metadata"]["name"] == name:
            policy["spec"].update(change)
        policies.append(policy)
    return Topology(topology.resources, policies, topology.chart_policies, topology.langfuse_source)


def test_the_documented_redis_policy_would_cut_langfuse_web_off(
    topologies: dict[EnvironmentName, Topology], allowed: AllowedPaths
) -> None:
    documented = {
        "ingress": [
            {
                "from": [
                    {"podSelector": {"matchLabels": {"component": "backend"}}},
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "langfuse"}
                        },
                        "podSelector": {
                            "matchLabels": {"app": "worker", "app.kubernetes.io/name": "langfuse"}
                        },
                    },
                ],
                "ports": [{"port": 6379}],
            }
        ]
    }
    topology = _with_policy_changed(topologies["prod"], "redis-ingress", documented)
    found = _compare(topology, allowed, "prod")
    assert found == [
        "langfuse/langfuse-web -> default/redis: the policies allow nothing, the table TCP/6379"
    ]


def test_the_subcharts_own_policies_would_reopen_their_pods(
    topologies: dict[EnvironmentName, Topology],
    allowed: AllowedPaths,
    reference: Reference,
    rendered: dict[EnvironmentName, EnvironmentRender],
) -> None:
    # With networkPolicy.enabled left at its default, ClickHouse's policy admits anyone.
    release = rendered["ci"].environment.release("langfuse")
    values = reference.merged_values(release.values)
    values["clickhouse"]["networkPolicy"]["enabled"] = True
    reopened = reference.policies(values)
    assert [p["metadata"]["name"] for p in reopened] == ["langfuse-clickhouse"]
    topology = topologies["ci"]
    widened = Topology(
        topology.resources,
        topology.policies + reopened,
        topology.chart_policies,
        topology.langfuse_source,
    )
    found = _compare(widened, allowed, "ci")
    assert any(
        line.startswith("default/orders-api -> langfuse/langfuse-clickhouse-shard0: open")
        for line in found
    )
    assert any(line.startswith("external -> langfuse/langfuse-clickhouse-shard0") for line in found)
