"""The policies README's table is the data file's, and the data expands as it says."""

from __future__ import annotations

from platform_deploy.checks.allowed_paths import load_allowed_paths


def test_expected_edges_leave_out_a_pod_talking_to_itself() -> None:
    edges = load_allowed_paths().expected("prod")
    assert ("default/orders-api", "default/gateway") in edges
    assert ("default/gateway", "default/gateway") not in edges
    assert edges[("default/gateway", "default/redis")] == {6379}


def test_environment_specific_paths() -> None:
    allowed = load_allowed_paths()
    assert ("kube-system/traefik", "langfuse/langfuse-web") in allowed.expected("prod")
    assert ("kube-system/traefik", "langfuse/langfuse-web") not in allowed.expected("ci")
    assert ("default/litellm", "default/provider-emulator") in allowed.expected("ci")
    assert "langfuse/langfuse-postgresql" not in allowed.protected_workloads("prod")
