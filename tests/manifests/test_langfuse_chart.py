"""The Langfuse chart rendered for real with each environment's values, where it can be had
(a pull from its repository, or LANGFUSE_CHART_DIR); here it is skipped with the reason.
The offline model of what it renders (reference inventory + our values) must agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from platform_deploy.checks.langfuse_chart import Reference
from platform_deploy.config.environments import EnvironmentName, Release
from platform_deploy.config.files import Manifest
from platform_deploy.config.versions import Versions
from platform_deploy.helm.client import Helm
from platform_deploy.rendering import EnvironmentRender, render_release

WORKLOADS = {"Deployment", "StatefulSet"}


def _real(render: EnvironmentRender) -> list[Manifest]:
    if render.langfuse is None:
        pytest.skip(f"Langfuse chart not rendered: {render.langfuse_unavailable}")
    return render.langfuse


def test_the_chart_renders_no_network_policy(
    rendered: dict[EnvironmentName, EnvironmentRender], environment: EnvironmentName
) -> None:
    manifests = _real(rendered[environment])
    assert [m for m in manifests if m["kind"] == "NetworkPolicy"] == []


def test_the_offline_model_matches_the_real_render(
    rendered: dict[EnvironmentName, EnvironmentRender],
    reference: Reference,
    environment: EnvironmentName,
) -> None:
    render = rendered[environment]
    manifests = _real(render)
    values = reference.merged_values(render.environment.release("langfuse").values)
    modelled = {
        w["metadata"]["name"]: w["spec"]["template"]["metadata"]["labels"]
        for w in reference.workloads(values)
    }
    real = {
        str(m["metadata"]["name"]): m["spec"]["template"]["metadata"]["labels"]
        for m in manifests
        if m["kind"] in WORKLOADS
    }
    assert modelled.keys() == real.keys()
    for name, labels in modelled.items():
        for key in (
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/component",
            "app",
        ):
            assert labels.get(key) == real[name].get(key), (name, key)
    assert reference.policies(values) == []


def test_without_our_values_the_subcharts_would_render_their_open_policies(
    reference: Reference,
) -> None:
    # What the reference inventory says renders with defaults: the model reproduces it.
    names = [p["metadata"]["name"] for p in reference.policies(reference.defaults().tree)]
    assert names == [
        "langfuse-zookeeper",
        "langfuse-clickhouse",
        "langfuse-postgresql",
        "langfuse-redis",
        "langfuse-s3",
    ]


def test_ci_after_prod_renders_the_same_test_cluster(
    rendered: dict[EnvironmentName, EnvironmentRender],
    helm: Helm,
    versions: Versions,
    langfuse_chart: Path | str,
) -> None:
    manifests = _real(rendered["ci"])
    release = rendered["ci"].environment.release("langfuse")
    base, ci = release.values
    prod = base.parent / "prod.yaml"
    assert isinstance(langfuse_chart, Path)
    layered = Release(release.name, release.namespace, release.chart, (base, prod, ci))
    assert render_release(helm, layered, langfuse_chart, versions.kubernetes) == manifests
