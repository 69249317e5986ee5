"""The Langfuse chart (1.5.41) as the checks see it: its default values, what it renders.

Two sources, one required:
- LANGFUSE_CHART_REFERENCE: a folder with the chart's and subcharts' default values and an
  inventory of what renders with defaults (workloads, labels, ports, NetworkPolicies). From
  it the checks read the value paths the chart defines and model what our values change:
  which subchart pods exist and which subchart NetworkPolicies still render.
- The chart itself: LANGFUSE_CHART_DIR (an unpacked chart) or, failing that, `helm pull`
  from the pinned repository. Where it can be had, the checks render it for real.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platform_deploy.helm import Helm, HelmError
from platform_deploy.repo import Manifest, load_manifests, load_mapping
from platform_deploy.values_keys import ChartDefaults, Values, deep_merge
from platform_deploy.versions import ChartPin

REFERENCE_ENV = "LANGFUSE_CHART_REFERENCE"
CHART_DIR_ENV = "LANGFUSE_CHART_DIR"
INVENTORY_FILE = "rendered-inventory.yaml"

# Which value switches each subchart's own NetworkPolicy, keyed by the policy's chart label
# (helm.sh/chart: <alias>-<version>): from each Bitnami subchart's values.yaml.
POLICY_SWITCHES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # chart label name: (the subchart's deploy condition, its networkPolicy.enabled path)
    "zookeeper": (
        ("clickhouse", "deploy"),
        ("clickhouse", "zookeeper", "networkPolicy", "enabled"),
    ),
    "clickhouse": (("clickhouse", "deploy"), ("clickhouse", "networkPolicy", "enabled")),
    "postgresql": (("postgresql", "deploy"), ("postgresql", "primary", "networkPolicy", "enabled")),
    "redis": (("redis", "deploy"), ("redis", "networkPolicy", "enabled")),
    "s3": (("s3", "deploy"), ("s3", "networkPolicy", "enabled")),
}
# Which value decides whether a workload exists, by its app.kubernetes.io/name.
WORKLOAD_CONDITIONS: dict[str, tuple[tuple[str, ...], ...]] = {
    "langfuse": (),
    "clickhouse": (("clickhouse", "deploy"),),
    "zookeeper": (("clickhouse", "deploy"), ("clickhouse", "zookeeper", "enabled")),
    "postgresql": (("postgresql", "deploy"),),
    "redis": (("redis", "deploy"),),
    "s3": (("s3", "deploy"),),
}


def value_at(values: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = values
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _enabled(values: Mapping[str, Any], conditions: tuple[tuple[str, ...], ...]) -> bool:
    return all(value_at(values, path) is True for path in conditions)


@dataclass(frozen=True)
class Reference:
    """The reference folder: default values and the inventory of a default render."""

    directory: Path

    @classmethod
    def from_environment(cls) -> Reference:
        raw = os.environ.get(REFERENCE_ENV)
        if not raw:
            raise LookupError(
                f"{REFERENCE_ENV} is not set: point it at the chart's reference data "
                "(.ci/run uses ../shared/data/langfuse-chart-1.5.41)"
            )
        directory = Path(raw)
        if not (directory / "values.yaml").is_file():
            raise FileNotFoundError(f"{REFERENCE_ENV}={raw}: no values.yaml there")
        return cls(directory)

    def defaults(self) -> ChartDefaults:
        return ChartDefaults.from_reference(self.directory)

    def chart_version(self) -> str:
        return str(load_mapping(self.directory / "Chart.yaml")["version"])

    def inventory(self) -> list[Manifest]:
        return load_manifests([self.directory / INVENTORY_FILE])

    def merged_values(self, values_files: tuple[Path, ...]) -> Values:
        merged = self.defaults().tree
        for values_file in values_files:
            merged = deep_merge(merged, load_mapping(values_file))
        return merged

    def policies(self, values: Mapping[str, Any]) -> list[Manifest]:
        """The subchart NetworkPolicies that still render with these values."""
        rendered = []
        for entry in self.inventory():
            if entry.get("kind") != "NetworkPolicy":
                continue
            chart_label = entry["metadata"]["labels"]["helm.sh/chart"]
            name = chart_label.rsplit("-", 1)[0]
            if name not in POLICY_SWITCHES:
                raise LookupError(f"no known switch for the NetworkPolicy of {chart_label}")
            condition, switch = POLICY_SWITCHES[name]
            if _enabled(values, (condition, switch)):
                rendered.append({key: value for key, value in entry.items()})
        return rendered

    def workloads(self, values: Mapping[str, Any]) -> list[Manifest]:
        """The chart's Deployments and StatefulSets that exist with these values, each with
        its pod labels and container ports as the chart renders them."""
        workloads = []
        for entry in self.inventory():
            if entry.get("kind") not in {"Deployment", "StatefulSet"}:
                continue
            labels = entry["podLabels"]
            name = labels["app.kubernetes.io/name"]
            if name not in WORKLOAD_CONDITIONS:
                raise LookupError(f"no known condition for the chart's {name} workload")
            if not _enabled(values, WORKLOAD_CONDITIONS[name]):
                continue
            workloads.append(_workload(entry))
        return workloads


def _workload(entry: Mapping[str, Any]) -> Manifest:
    labels = dict(entry["podLabels"])
    ports = [{"containerPort": int(port), "protocol": "TCP"} for port in entry["containerPorts"]]
    return {
        "apiVersion": "apps/v1",
        "kind": entry["kind"],
        "metadata": {"name": entry["name"], "namespace": entry["namespace"]},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [{"name": "main", "image": entry["image"][0], "ports": ports}]
                },
            },
        },
    }


def secrets_the_chart_creates(values: Mapping[str, Any], release: str) -> list[str]:
    """The Secrets chart 1.5.41 and its subcharts render themselves with these values
    (from the chart's templates: nextauth-secret.yaml, postgresql-secret.yaml, and each
    Bitnami subchart's secrets.yaml, which render unless auth.existingSecret is set)."""
    created = []
    if value_at(values, ("langfuse", "nextauth", "secret", "value")):
        created.append(f"{release}-nextauth")
    postgres_deployed = value_at(values, ("postgresql", "deploy")) is True
    if (not postgres_deployed and value_at(values, ("postgresql", "auth", "password"))) or (
        postgres_deployed and not value_at(values, ("postgresql", "auth", "existingSecret"))
    ):
        created.append(f"{release}-postgresql")
    for alias in ("clickhouse", "s3", "redis"):
        deployed = value_at(values, (alias, "deploy")) is True
        if deployed and not value_at(values, (alias, "auth", "existingSecret")):
            created.append(f"{release}-{alias}")
    return created


def obtain_chart(helm: Helm, pin: ChartPin, cache: Path) -> Path | str:
    """The unpacked chart, or the reason it cannot be had here."""
    configured = os.environ.get(CHART_DIR_ENV)
    if configured:
        chart = Path(configured)
        if not (chart / "Chart.yaml").is_file():
            return f"{CHART_DIR_ENV}={configured} holds no Chart.yaml"
        version = str(load_mapping(chart / "Chart.yaml").get("version"))
        if version != pin.version:
            return f"{CHART_DIR_ENV} holds chart {version}, not the pinned {pin.version}"
        return chart
    target = cache / f"{pin.name}-{pin.version}"
    if (target / pin.name / "Chart.yaml").is_file():
        return target / pin.name
    try:
        return helm.pull(pin.name, pin.version, pin.repository, target)
    except HelmError as error:
        return f"chart {pin.version} cannot be pulled from {pin.repository} here ({error})"
