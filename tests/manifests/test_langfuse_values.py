"""The Langfuse values use only paths chart 1.5.41 and its subcharts define, and they
change what the documentation meant them to change."""

from __future__ import annotations

from pathlib import Path

import pytest

from platform_deploy.checks.langfuse_chart import Reference
from platform_deploy.checks.values_keys import ChartDefaults, unknown_paths
from platform_deploy.config.environments import load_environments
from platform_deploy.config.files import REPO_ROOT, load_mapping
from platform_deploy.config.versions import Versions
from platform_deploy.helm.client import Helm
from platform_deploy.helm.values import value_at

VALUES_DIR = REPO_ROOT / "deploy" / "helm-values" / "langfuse"
# The documentation's values, verbatim in shape: what the chart silently ignores.
DOCUMENTED = {
    "langfuse": {"telemetryEnabled": False, "nextauth": {"url": "https://langfuse.el-jefe.me"}},
    "postgresql": {"deploy": False, "args": "sslmode=require", "auth": {"existingSecret": "x"}},
    "clickhouse": {"startupProbe": {"enabled": True, "failureThreshold": 30}},
    "service": {"type": "ClusterIP", "port": 3000},
    "replicaCount": 1,
}


def test_the_reference_is_the_pinned_chart(reference: Reference, versions: Versions) -> None:
    assert reference.chart_version() == versions.chart("langfuse").version


@pytest.mark.parametrize("name", ["values.yaml", "prod.yaml", "ci.yaml"])
def test_every_path_is_one_the_chart_defines(reference: Reference, name: str) -> None:
    assert unknown_paths(load_mapping(VALUES_DIR / name), reference.defaults().tree) == []


def test_the_documented_values_would_fail_this_check(reference: Reference) -> None:
    assert unknown_paths(DOCUMENTED, reference.defaults().tree) == [
        "langfuse.telemetryEnabled",
        "service",
        "replicaCount",
    ]


def test_the_environments_apply_base_then_overlay() -> None:
    for name, environment in load_environments().items():
        files = [path.name for path in environment.release("langfuse").values]
        assert files == ["values.yaml", f"{name}.yaml"]


def _effective(values: object) -> object:
    """Values without their empty entries (null, "", {}, []), which the chart treats alike."""
    if isinstance(values, dict):
        kept = {key: _effective(value) for key, value in values.items()}
        return {key: value for key, value in kept.items() if value not in (None, "", {}, [])}
    return values


def test_ci_values_after_prod_values_give_the_test_cluster_the_same(reference: Reference) -> None:
    base, prod, ci = (VALUES_DIR / name for name in ("values.yaml", "prod.yaml", "ci.yaml"))
    assert _effective(reference.merged_values((base, ci))) == _effective(
        reference.merged_values((base, prod, ci))
    )


def test_the_merged_values_say_what_was_meant(reference: Reference) -> None:
    environments = load_environments()
    prod = reference.merged_values(environments["prod"].release("langfuse").values)
    ci = reference.merged_values(environments["ci"].release("langfuse").values)
    for values in (prod, ci):
        assert value_at(values, ("langfuse", "features", "telemetryEnabled")) is False
        assert value_at(values, ("redis", "deploy")) is False
        assert value_at(values, ("redis", "host")) == "redis.default.svc.cluster.local"
        assert value_at(values, ("clickhouse", "replicaCount")) == 1
        assert value_at(values, ("clickhouse", "resourcesPreset")) == "none"
        assert value_at(values, ("clickhouse", "zookeeper", "heapSize")) == 256
    assert value_at(prod, ("postgresql", "deploy")) is False
    assert value_at(prod, ("postgresql", "args")) == "sslmode=require"
    assert value_at(ci, ("postgresql", "deploy")) is True
    assert value_at(prod, ("langfuse", "nextauth", "url")) == "https://langfuse.el-jefe.me"


def test_defaults_from_the_chart_itself_agree_with_the_reference(
    helm: Helm, reference: Reference, langfuse_chart: Path | str
) -> None:
    if isinstance(langfuse_chart, str):
        pytest.skip(f"chart not available: {langfuse_chart}")
    pulled = ChartDefaults.from_chart(langfuse_chart, helm.show_values)
    for name in ("values.yaml", "prod.yaml", "ci.yaml"):
        assert unknown_paths(load_mapping(VALUES_DIR / name), pulled.tree) == []
    assert unknown_paths(DOCUMENTED, pulled.tree) == [
        "langfuse.telemetryEnabled",
        "service",
        "replicaCount",
    ]
