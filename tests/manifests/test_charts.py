"""This repository's charts: they lint and render for every environment, and their
workloads are what the services need (restricted, probed, bounded, disruption-safe)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from platform_deploy.config.environments import EnvironmentName, load_environments
from platform_deploy.config.files import Manifest
from platform_deploy.config.versions import Versions
from platform_deploy.helm.client import Helm, HelmError
from platform_deploy.rendering import EnvironmentRender, render_release


def test_every_local_chart_lints_strictly_with_each_environments_values(
    helm: Helm, versions: Versions, environment: EnvironmentName, digests_file: Any
) -> None:
    for release in load_environments()[environment].releases:
        chart = release.local_chart
        if chart is None:
            continue
        extra = [digests_file] if (environment, release.name) == ("prod", "platform") else []
        output = helm.lint(chart, [*release.values, *extra], kube_version=versions.kubernetes)
        assert "0 chart(s) failed" in output


def test_production_refuses_to_render_without_image_digests(helm: Helm, versions: Versions) -> None:
    release = load_environments()["prod"].release("platform")
    chart = release.local_chart
    assert chart is not None
    with pytest.raises(HelmError, match=r"digest is required in this environment"):
        render_release(helm, release, chart, versions.kubernetes)


def _workloads(render: EnvironmentRender) -> Iterator[Manifest]:
    for manifests in render.releases.values():
        yield from (m for m in manifests if m["kind"] in {"Deployment", "StatefulSet"})


def test_which_workloads_each_environment_runs(
    rendered: dict[EnvironmentName, EnvironmentRender],
) -> None:
    names = {
        env: sorted(w["metadata"]["name"] for w in _workloads(r)) for env, r in rendered.items()
    }
    assert names == {
        "ci": ["gateway", "litellm", "provider-emulator", "redis"],
        "prod": ["gateway", "litellm"],
    }


def test_workloads_meet_the_restricted_profile_with_a_read_only_root(
    rendered: dict[EnvironmentName, EnvironmentRender], environment: EnvironmentName
) -> None:
    for workload in _workloads(rendered[environment]):
        pod = workload["spec"]["template"]["spec"]
        name = workload["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert container["resources"]["requests"], name
            assert container["resources"]["limits"], name
            assert container["livenessProbe"], name
            assert container["readinessProbe"], name


def test_probes_match_the_services(rendered: dict[EnvironmentName, EnvironmentRender]) -> None:
    containers = {
        w["metadata"]["name"]: w["spec"]["template"]["spec"]["containers"][0]
        for w in _workloads(rendered["ci"])
    }
    gateway, litellm = containers["gateway"], containers["litellm"]
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert gateway["ports"] == [{"name": "http", "containerPort": 8002, "protocol": "TCP"}]
    assert litellm["startupProbe"]["httpGet"]["path"] == "/health/liveliness"
    assert litellm["livenessProbe"]["httpGet"]["path"] == "/health/liveliness"
    assert litellm["readinessProbe"]["httpGet"]["path"] == "/health/readiness"
    assert litellm["resources"]["limits"]["memory"] == "1Gi"
    assert containers["provider-emulator"]["readinessProbe"]["httpGet"]["path"] == "/healthz"


def test_litellm_tells_langfuse_its_environment_and_release(
    rendered: dict[EnvironmentName, EnvironmentRender], environment: EnvironmentName
) -> None:
    """Langfuse files each trace under `langfuse.environment` and `langfuse.release`
    (README.md, "What Langfuse captures"): the environment's name, and the image that made
    it (production's by digest, ci's by tag)."""
    litellm = next(
        w for w in _workloads(rendered[environment]) if w["metadata"]["name"] == "litellm"
    )
    container = litellm["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    release = container["image"].split("@")[1] if environment == "prod" else "ci"
    assert (env["LANGFUSE_TRACING_ENVIRONMENT"], env["LANGFUSE_RELEASE"]) == (environment, release)


def test_the_gateway_drains_before_it_is_killed(
    rendered: dict[EnvironmentName, EnvironmentRender],
) -> None:
    gateway = next(w for w in _workloads(rendered["prod"]) if w["metadata"]["name"] == "gateway")
    pod = gateway["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= 30
    assert pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"] > 0
    assert gateway["spec"]["template"]["metadata"]["labels"]["component"] == "backend"


def test_every_workload_has_a_disruption_budget_and_production_autoscales(
    rendered: dict[EnvironmentName, EnvironmentRender], environment: EnvironmentName
) -> None:
    manifests = [m for release in rendered[environment].releases.values() for m in release]
    budgets = {m["metadata"]["name"] for m in manifests if m["kind"] == "PodDisruptionBudget"}
    workloads = {w["metadata"]["name"] for w in _workloads(rendered[environment])}
    assert budgets == workloads
    autoscalers = {
        m["spec"]["scaleTargetRef"]["name"]: m["spec"]["minReplicas"]
        for m in manifests
        if m["kind"] == "HorizontalPodAutoscaler"
    }
    if environment == "prod":
        assert autoscalers == {"gateway": 2, "litellm": 2}
        for workload in _workloads(rendered["prod"]):
            image = workload["spec"]["template"]["spec"]["containers"][0]["image"]
            assert "@sha256:" in image
    else:
        assert autoscalers == {}


def test_the_service_names_the_services_are_configured_with(
    rendered: dict[EnvironmentName, EnvironmentRender],
) -> None:
    services = {
        m["metadata"]["name"]: [p["port"] for p in m["spec"]["ports"]]
        for release in rendered["ci"].releases.values()
        for m in release
        if m["kind"] == "Service"
    }
    assert services == {
        "gateway": [8002],
        "litellm": [4000],
        "provider-emulator": [8090],
        "redis": [6379],
    }
    gateway = next(w for w in _workloads(rendered["ci"]) if w["metadata"]["name"] == "gateway")
    env = {
        e["name"]: e.get("value")
        for e in gateway["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["GATEWAY_LITELLM_URL"] == "http://litellm.default.svc.cluster.local:4000"
    assert env["GATEWAY_REDIS_URL"] == "redis://redis.default.svc.cluster.local:6379/0"
