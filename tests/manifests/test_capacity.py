"""The platform chart is sized by the bench: each HorizontalPodAutoscaler scales a rendered
Deployment that requests CPU, and its bounds, its target and the Deployment's CPU request
are what `python -m bench.capacity` computes from the committed bench/results/latest.json,
as is the README's capacity table. LiteLLM runs as many workers as its pod requests cores.

After a new `invoke bench`, `python -m bench.capacity` rewrites the values and the table;
until then these fail, naming the difference."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bench.capacity import (
    LITELLM_WORKERS,
    README,
    RESULTS,
    Capacity,
    load_results,
    parse_cpu,
    plan,
    table,
)
from platform_deploy.config.environments import EnvironmentName
from platform_deploy.config.files import Manifest
from platform_deploy.rendering import EnvironmentRender

DOCKERFILE = README.parent / "services" / "litellm" / "Dockerfile"


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    return load_results(RESULTS)


@pytest.fixture(scope="module")
def capacities(results: dict[str, Any]) -> dict[str, Capacity]:
    return {c.sizing.component: c for c in plan(results)}


def _manifests(render: EnvironmentRender) -> list[Manifest]:
    return [m for release in render.releases.values() for m in release]


def _cpu_request(deployment: Manifest) -> int:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return parse_cpu(container["resources"]["requests"]["cpu"])


def test_each_autoscaler_scales_a_rendered_deployment_that_requests_cpu(
    rendered: dict[EnvironmentName, EnvironmentRender], environment: EnvironmentName
) -> None:
    manifests = _manifests(rendered[environment])
    deployments = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Deployment"}
    for hpa in (m for m in manifests if m["kind"] == "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
        assert target["name"] in deployments, hpa["metadata"]["name"]
        assert hpa["metadata"]["namespace"] == deployments[target["name"]]["metadata"]["namespace"]
        assert _cpu_request(deployments[target["name"]]) > 0
        assert "replicas" not in deployments[target["name"]]["spec"]  # the HPA owns the count
        (metric,) = hpa["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"
        assert metric["resource"]["target"]["type"] == "Utilization"


def test_production_autoscalers_and_cpu_requests_are_the_benchs_capacity(
    rendered: dict[EnvironmentName, EnvironmentRender], capacities: dict[str, Capacity]
) -> None:
    manifests = _manifests(rendered["prod"])
    deployments = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Deployment"}
    scalers = {
        m["spec"]["scaleTargetRef"]["name"]: m["spec"]
        for m in manifests
        if m["kind"] == "HorizontalPodAutoscaler"
    }
    assert set(scalers) == set(capacities)
    for name, capacity in capacities.items():
        spec = scalers[name]
        found = (
            spec["minReplicas"],
            spec["maxReplicas"],
            spec["metrics"][0]["resource"]["target"]["averageUtilization"],
            _cpu_request(deployments[name]),
        )
        expected = (
            capacity.min_replicas,
            capacity.max_replicas,
            capacity.target_utilisation_pct,
            capacity.sizing.cpu_request_m,
        )
        assert found == expected, f"{name}: run `python -m bench.capacity`"
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        assert parse_cpu(container["resources"]["limits"]["cpu"]) == capacity.sizing.cpu_limit_m


def test_the_readmes_capacity_table_is_computed_from_the_committed_results(
    results: dict[str, Any], capacities: dict[str, Capacity]
) -> None:
    expected = table(list(capacities.values()), results)
    assert expected in README.read_text(), "run `python -m bench.capacity`"


def test_litellm_runs_one_worker_per_core_its_pod_requests(
    capacities: dict[str, Capacity],
) -> None:
    cmd = next(line for line in DOCKERFILE.read_text().splitlines() if line.startswith("CMD "))
    workers = re.search(r'"--num_workers", "(\d+)"', cmd)
    assert workers is not None, "the image names its worker count"
    assert int(workers.group(1)) == LITELLM_WORKERS
    assert capacities["litellm"].sizing.cpu_request_m == 1000 * LITELLM_WORKERS
