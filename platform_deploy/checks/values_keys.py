"""Which value paths a chart defines, and which paths of a values file it does not.

The Langfuse chart ships no values schema: Helm silently ignores a key it does not know, so
a misspelt or outdated path is a setting that never happens. The chart's (and each
subchart's) default values.yaml are the list of paths it reads.
"""

from __future__ import annotations

import copy
import tarfile
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from platform_deploy.config.files import load_mapping
from platform_deploy.helm.values import Values, value_at

# Subcharts of subcharts that the reference folder holds only as values files:
# clickhouse 8.0.5 depends on zookeeper 13.x (condition zookeeper.enabled).
REFERENCE_NESTED_SUBCHARTS: dict[str, tuple[str, ...]] = {"clickhouse": ("zookeeper",)}


def _union(base: Mapping[str, Any], override: Mapping[str, Any]) -> Values:
    """Like Helm's coalescing, but a null keeps its key: `port: null` is a path the chart
    defines."""
    merged: Values = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _union(merged[key], value)
        elif value is not None or key not in merged:
            merged[key] = copy.deepcopy(value)
    return merged


def _place_subchart(values: Mapping[str, Any], path: tuple[str, ...]) -> Values:
    """A subchart's defaults under its alias path; its `global` keys are global to all."""
    placed: Values = dict(values)
    for key in reversed(path):
        placed = {key: placed}
    if isinstance(values.get("global"), Mapping):
        placed["global"] = values["global"]
    return placed


@dataclass(frozen=True)
class ChartDefaults:
    """A chart's default values with each subchart's defaults placed under its alias."""

    tree: Values
    sources: tuple[str, ...]

    @classmethod
    def from_reference(cls, directory: Path) -> ChartDefaults:
        """From a folder with Chart.yaml, values.yaml, subcharts/<name>-<version>.values.yaml."""
        chart = load_mapping(directory / "Chart.yaml")
        tree: Values = {}
        sources = [str(directory / "values.yaml")]
        for dependency in chart.get("dependencies") or []:
            name, version = dependency["name"], dependency["version"]
            alias = dependency.get("alias") or name
            values_file = directory / "subcharts" / f"{name}-{version}.values.yaml"
            if not values_file.is_file():
                if name == "common":  # a library chart: no values of its own
                    continue
                raise FileNotFoundError(f"{values_file} is missing")
            # Bottom-up, as Helm coalesces: a chart's own values win over its subcharts'.
            for nested in REFERENCE_NESTED_SUBCHARTS.get(name, ()):
                matches = sorted((directory / "subcharts").glob(f"{nested}-*.values.yaml"))
                if len(matches) != 1:
                    raise FileNotFoundError(f"expected one {nested}-*.values.yaml in {directory}")
                tree = _union(tree, _place_subchart(load_mapping(matches[0]), (alias, nested)))
                sources.append(str(matches[0]))
            tree = _union(tree, _place_subchart(load_mapping(values_file), (alias,)))
            sources.append(str(values_file))
        tree = _union(tree, load_mapping(directory / "values.yaml"))
        return cls(tree=tree, sources=tuple(sources))

    @classmethod
    def from_chart(cls, chart_dir: Path, show_values: Callable[[Path], str]) -> ChartDefaults:
        """From an unpacked chart, reading each (sub)chart's defaults with `helm show values`."""
        tree: Values = {}
        sources: list[str] = []
        with tempfile.TemporaryDirectory(prefix="chart-") as scratch:
            cls._collect(chart_dir, (), show_values, Path(scratch), tree, sources)
        return cls(tree=tree, sources=tuple(sources))

    @staticmethod
    def _collect(
        chart_dir: Path,
        path: tuple[str, ...],
        show_values: Callable[[Path], str],
        scratch: Path,
        tree: Values,
        sources: list[str],
    ) -> None:
        chart = load_mapping(chart_dir / "Chart.yaml")
        for dependency in chart.get("dependencies") or []:
            name = dependency["name"]
            alias = dependency.get("alias") or name
            subchart = chart_dir / "charts" / name
            if not subchart.is_dir():
                packaged = sorted((chart_dir / "charts").glob(f"{name}-*.tgz"))
                if not packaged:
                    raise FileNotFoundError(f"{chart_dir}: subchart {name} is missing")
                with tarfile.open(packaged[-1]) as archive:
                    archive.extractall(scratch / "/".join((*path, alias)), filter="data")
                subchart = scratch / "/".join((*path, alias)) / name
            ChartDefaults._collect(subchart, (*path, alias), show_values, scratch, tree, sources)
        own = yaml.safe_load(show_values(chart_dir)) or {}
        merged = _union(value_at(tree, path) or {}, own)
        _assign(tree, path, merged)
        if path and isinstance(own.get("global"), Mapping):
            tree["global"] = _union(own["global"], tree.get("global") or {})
        sources.append(f"helm show values {chart_dir.name}")


def _assign(tree: Values, path: tuple[str, ...], value: Values) -> None:
    if not path:
        tree.clear()
        tree.update(value)
        return
    node = tree
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def unknown_paths(values: Mapping[str, Any], defaults: Mapping[str, Any]) -> list[str]:
    """Dotted paths in values that the defaults do not define.

    A key is known if the defaults have it. Below a default that is an empty map or null
    (resources: {}, annotations: {}) any key is accepted: the chart passes such maps through.
    Lists are not descended into.
    """
    unknown: list[str] = []

    def walk(node: Mapping[str, Any], known: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            if key not in known:
                unknown.append(path)
                continue
            default = known[key]
            if isinstance(value, Mapping):
                if isinstance(default, Mapping) and default:
                    walk(value, default, path + ".")
                elif default is not None and not isinstance(default, Mapping):
                    unknown.append(f"{path} (a map where the chart has {type(default).__name__})")

    walk(values, defaults, "")
    return unknown
