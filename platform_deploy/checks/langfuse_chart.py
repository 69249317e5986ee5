"""The Langfuse chart (1.5.41) as the checks see it: its default values, what it renders.

Two sources, one required:
- LANGFUSE_CHART_REFERENCE: a folder with the chart's and subcharts' default values and an
  inventory of what renders with defaults (workloads, labels, ports, NetworkPolicies). From
  it the checks read the value paths the chart defines and model what our values change:
  which subchart pods exist and which subchart NetworkPolicies still render.
- The chart itself: LANGFUSE_CHART_DIR (an unpacked chart) or, failing that, `helm pull`
  from the pinned repository. Where it can be had, the checks render it for real, and
  without LANGFUSE_CHART_REFERENCE they derive the same folder from it (Reference.from_chart).
"""

from __future__ import annotations

import os
import shutil
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from platform_deploy.checks.values_keys import ChartDefaults
from platform_deploy.config.files import Manifest, dump_manifests, load_manifests, load_mapping
from platform_deploy.config.versions import ChartPin
from platform_deploy.helm.client import Helm, HelmError
from platform_deploy.helm.values import Values, coalesce, value_at

REFERENCE_ENV = "LANGFUSE_CHART_REFERENCE"
CHART_DIR_ENV = "LANGFUSE_CHART_DIR"
INVENTORY_FILE = "rendered-inventory.yaml"
RELEASE = "langfuse"
NAMESPACE = "langfuse"
# The only values chart 1.5.41 requires to render: secret references for the salt, nextauth,
# PostgreSQL, Redis and ClickHouse (its templates fail without them). The rest stays default.
REQUIRED_VALUES: dict[str, Any] = {
    "langfuse": {
        "salt": {"secretKeyRef": {"name": "langfuse-salt", "key": "salt"}},
        "nextauth": {"secret": {"secretKeyRef": {"name": "langfuse-nextauth", "key": "secret"}}},
    },
    "postgresql": {
        "auth": {
            "existingSecret": "langfuse-postgresql",
            "secretKeys": {"userPasswordKey": "password", "adminPasswordKey": "postgres-password"},
        }
    },
    "redis": {
        "auth": {"existingSecret": "langfuse-redis", "existingSecretPasswordKey": "password"}
    },
    "clickhouse": {
        "auth": {"existingSecret": "langfuse-clickhouse", "existingSecretKey": "password"}
    },
}
INVENTORY_HEADER = (
    "# Derived from the chart by platform_deploy.checks.langfuse_chart.Reference.from_chart:\n"
    f"# what it renders for release {RELEASE!r} in namespace {NAMESPACE!r} with only its required\n"
    "# values.\n"
)
WORKLOAD_KINDS = ("Deployment", "StatefulSet")

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


def _enabled(values: Mapping[str, Any], conditions: tuple[tuple[str, ...], ...]) -> bool:
    return all(value_at(values, path) is True for path in conditions)


@dataclass(frozen=True)
class Reference:
    """The reference folder: default values and the inventory of a default render. Given
    (from_folder, from_environment) or derived from the chart itself (from_chart)."""

    directory: Path

    @classmethod
    def from_environment(cls) -> Reference:
        raw = os.environ.get(REFERENCE_ENV)
        if not raw:
            raise LookupError(
                f"{REFERENCE_ENV} is not set: point it at the chart's reference data "
                "(.ci/run uses ../shared/data/langfuse-chart-1.5.41)"
            )
        return cls.from_folder(Path(raw))

    @classmethod
    def from_folder(cls, directory: Path) -> Reference:
        if not (directory / "values.yaml").is_file():
            raise FileNotFoundError(f"{REFERENCE_ENV}={directory}: no values.yaml there")
        return cls(directory)

    @classmethod
    def from_chart(cls, helm: Helm, chart: Path, cache: Path) -> Reference:
        """The same folder, derived from the unpacked chart into cache (reused if there):
        its and each subchart's values.yaml, and the inventory of a render with only the
        required values."""
        if (cache / INVENTORY_FILE).is_file():
            return cls(cache)
        building = cache.with_name(cache.name + ".partial")
        shutil.rmtree(building, ignore_errors=True)
        (building / "subcharts").mkdir(parents=True)
        shutil.copyfile(chart / "Chart.yaml", building / "Chart.yaml")
        shutil.copyfile(chart / "values.yaml", building / "values.yaml")
        _copy_subchart_values(chart, building / "subcharts", building / "unpacked")
        shutil.rmtree(building / "unpacked", ignore_errors=True)
        required = building / "required-values.yaml"
        required.write_text(yaml.safe_dump(REQUIRED_VALUES, sort_keys=False), encoding="utf-8")
        rendered = helm.template(RELEASE, chart, NAMESPACE, [required])
        required.unlink()
        (building / INVENTORY_FILE).write_text(
            INVENTORY_HEADER + dump_manifests(extract_inventory(rendered)), encoding="utf-8"
        )
        shutil.rmtree(cache, ignore_errors=True)
        building.rename(cache)
        return cls(cache)

    def defaults(self) -> ChartDefaults:
        return ChartDefaults.from_reference(self.directory)

    def chart_version(self) -> str:
        return str(load_mapping(self.directory / "Chart.yaml")["version"])

    def inventory(self) -> list[Manifest]:
        return load_manifests([self.directory / INVENTORY_FILE])

    def merged_values(self, values_files: tuple[Path, ...]) -> Values:
        merged = self.defaults().tree
        for values_file in values_files:
            merged = coalesce(merged, load_mapping(values_file))
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


def resolve_reference(helm: Helm, chart: Path | str, cache: Path) -> Reference:
    """The folder named by LANGFUSE_CHART_REFERENCE if set, else one derived from the chart
    (LANGFUSE_CHART_DIR or a pull; `chart` is obtain_chart's answer) into cache."""
    if os.environ.get(REFERENCE_ENV):
        return Reference.from_environment()
    if isinstance(chart, str):
        raise LookupError(
            f"no Langfuse chart reference: {REFERENCE_ENV} is not set (point it at the "
            "reference folder; .ci/run uses ../shared/data/langfuse-chart-1.5.41), and the "
            f"chart itself cannot be had ({chart}; set {CHART_DIR_ENV} to an unpacked chart "
            "or allow `helm pull`)"
        )
    return Reference.from_chart(helm, chart, cache)


def _copy_subchart_values(chart: Path, target: Path, scratch: Path) -> None:
    """Each (nested) subchart's values.yaml as <name>-<version>.values.yaml; a library chart
    (common) has none. Subcharts may be unpacked folders or .tgz files under charts/."""
    for dependency in load_mapping(chart / "Chart.yaml").get("dependencies") or []:
        name, version = dependency["name"], str(dependency["version"])
        subchart = _unpacked(chart, name, scratch)
        meta = load_mapping(subchart / "Chart.yaml")
        found = str(meta.get("version"))
        if version.replace(".", "").isdigit() and found != version:
            raise LookupError(f"{chart}: subchart {name} is {found}, Chart.yaml asks {version}")
        if meta.get("type") == "library":
            continue
        if (subchart / "values.yaml").is_file():
            shutil.copyfile(subchart / "values.yaml", target / f"{name}-{found}.values.yaml")
        _copy_subchart_values(subchart, target, scratch / name)


def _unpacked(chart: Path, name: str, scratch: Path) -> Path:
    if (chart / "charts" / name / "Chart.yaml").is_file():
        return chart / "charts" / name
    packaged = sorted((chart / "charts").glob(f"{name}-[0-9]*.tgz"))
    if len(packaged) != 1:
        raise FileNotFoundError(f"{chart}: subchart {name} is missing (or packaged twice)")
    with tarfile.open(packaged[0]) as archive:
        archive.extractall(scratch, filter="data")
    return scratch / name


def extract_inventory(rendered: Iterable[Manifest]) -> list[Manifest]:
    """What the checks read of a render: Services (selector, ports), workloads (pod labels,
    container ports, images) and NetworkPolicies, in that order, each in render order."""
    manifests = list(rendered)
    services = [_service_entry(m) for m in manifests if m.get("kind") == "Service"]
    workloads = [
        _workload_entry(m) for kind in WORKLOAD_KINDS for m in manifests if m.get("kind") == kind
    ]
    policies = [_policy_entry(m) for m in manifests if m.get("kind") == "NetworkPolicy"]
    return services + workloads + policies


def _service_entry(manifest: Manifest) -> Manifest:
    spec = manifest.get("spec") or {}
    return {
        "kind": "Service",
        "name": manifest["metadata"]["name"],
        "namespace": manifest["metadata"].get("namespace"),
        "selector": dict(spec.get("selector") or {}),
        "ports": [int(port["port"]) for port in spec.get("ports") or []],
    }


def _workload_entry(manifest: Manifest) -> Manifest:
    pod = manifest["spec"]["template"]
    containers = (pod.get("spec") or {}).get("containers") or []
    return {
        "kind": manifest["kind"],
        "name": manifest["metadata"]["name"],
        "namespace": manifest["metadata"].get("namespace"),
        "podLabels": {
            k: str(v) for k, v in ((pod.get("metadata") or {}).get("labels") or {}).items()
        },
        "containerPorts": [
            int(port["containerPort"])
            for container in containers
            for port in container.get("ports") or []
        ],
        "image": [container["image"] for container in containers],
    }


def _policy_entry(manifest: Manifest) -> Manifest:
    metadata = manifest["metadata"]
    return {
        "kind": "NetworkPolicy",
        "apiVersion": manifest["apiVersion"],
        "metadata": {
            "name": metadata["name"],
            "namespace": metadata.get("namespace"),
            "labels": {k: str(v) for k, v in (metadata.get("labels") or {}).items()},
        },
        "spec": manifest["spec"],
    }


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


def obtain_chart(
    helm: Helm, pin: ChartPin, cache: Path, chart_dir_env: str = CHART_DIR_ENV
) -> Path | str:
    """The unpacked chart: the one chart_dir_env names (LANGFUSE_CHART_DIR unless another
    chart's variable is given), else a pull of the pinned chart into cache; or the reason it
    cannot be had here."""
    configured = os.environ.get(chart_dir_env)
    if configured:
        chart = Path(configured)
        if not (chart / "Chart.yaml").is_file():
            return f"{chart_dir_env}={configured} holds no Chart.yaml"
        meta = load_mapping(chart / "Chart.yaml")
        name, version = str(meta.get("name")), str(meta.get("version"))
        if name != pin.name:
            return f"{chart_dir_env} holds chart {name}, not {pin.name}"
        if version != pin.version:
            return f"{chart_dir_env} holds chart {version}, not the pinned {pin.version}"
        return chart
    target = cache / f"{pin.name}-{pin.version}"
    if (target / pin.name / "Chart.yaml").is_file():
        return target / pin.name
    try:
        return helm.pull(pin.name, pin.version, pin.repository, target)
    except HelmError as error:
        return f"chart {pin.version} cannot be pulled from {pin.repository} here ({error})"
