"""Finding value paths a chart does not define, and Helm-like merging, on fixed inputs."""

from __future__ import annotations

from platform_deploy.checks.values_keys import unknown_paths

DEFAULTS = {
    "langfuse": {"features": {"telemetryEnabled": True}, "resources": {}, "replicas": 1},
    "postgresql": {"port": None, "auth": {"username": "postgres"}},
}


def test_known_paths_and_free_form_maps_pass() -> None:
    values = {
        "langfuse": {"features": {"telemetryEnabled": False}, "resources": {"limits": {"cpu": 1}}},
        "postgresql": {"port": 5432},
    }
    assert unknown_paths(values, DEFAULTS) == []


def test_the_documented_keys_that_chart_1_x_ignores_are_found() -> None:
    values = {"langfuse": {"telemetryEnabled": False}, "service": {"port": 3000}, "replicaCount": 1}
    assert unknown_paths(values, DEFAULTS) == [
        "langfuse.telemetryEnabled",
        "service",
        "replicaCount",
    ]


def test_a_map_where_the_chart_has_a_scalar_is_found() -> None:
    assert unknown_paths({"langfuse": {"replicas": {"web": 2}}}, DEFAULTS) == [
        "langfuse.replicas (a map where the chart has int)"
    ]
