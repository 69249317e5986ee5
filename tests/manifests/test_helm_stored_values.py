"""The deploy engine's idea of a release's values is what the real Helm 4 stores.

A rerun compares helm_commands.stored_values(values files) with the running release's
`helm get values -o json`, which answers the release's stored user-supplied values. Those
are the `config` of `helm install --dry-run=client -o json` (install and get values print
the same release object), read here from the locked binary for every release of every
environment with exactly the values files the engine passes. The Langfuse chart cannot be
pulled everywhere: where it cannot, a local chart with its Chart.yaml's name, version and
subcharts (aliases, conditions) stands in. The stored values do not depend on the chart's
templates: Helm merges the files (loader.MergeMaps) before it reads the chart, and the
dependency processing coalesces a copy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from platform_deploy.checks.langfuse_chart import Reference
from platform_deploy.config.environments import EnvironmentName, Release, load_environments
from platform_deploy.config.files import load_mapping
from platform_deploy.helm.client import Helm
from platform_deploy.helm.values import stored_values


def _stand_in(reference: Reference, directory: Path) -> Path:
    """A chart with the Langfuse chart's name, version and dependencies, and no templates."""
    chart = load_mapping(reference.directory / "Chart.yaml")
    root = directory / str(chart["name"])
    (root / "templates").mkdir(parents=True)
    dependencies = []
    for dependency in chart.get("dependencies") or []:
        name, version = str(dependency["name"]), str(dependency["version"])
        sub = root / "charts" / name
        sub.mkdir(parents=True)
        kind = "library" if name == "common" else "application"
        (sub / "Chart.yaml").write_text(
            f"apiVersion: v2\nname: {name}\nversion: {version}\ntype: {kind}\n", encoding="utf-8"
        )
        # The local copy is the dependency: no repository to resolve it from.
        dependencies.append({k: v for k, v in dependency.items() if k != "repository"})
    (root / "Chart.yaml").write_text(
        json.dumps(
            {
                "apiVersion": "v2",
                "name": chart["name"],
                "version": chart["version"],
                "dependencies": dependencies,
            }
        ),
        encoding="utf-8",
    )
    return root


def _stored(helm: Helm, release: Release, chart: Path, values: list[Path]) -> Any:
    argv = ["install", release.name, str(chart), "--namespace", release.namespace]
    for values_file in values:
        argv += ["--values", str(values_file)]
    answer = json.loads(helm.run(*argv, "--dry-run=client", "--output", "json"))
    return answer["config"]


def test_stored_values_equal_what_helm_4_stores(
    helm: Helm,
    environment: EnvironmentName,
    digests_file: Path,
    langfuse_chart: Path | str,
    reference: Reference,
    tmp_path: Path,
) -> None:
    compared = []
    for release in load_environments()[environment].releases:
        # The values files the engine passes: production's platform gets the digests too.
        extra = [digests_file] if (environment, release.name) == ("prod", "platform") else []
        values = [*release.values, *extra]
        chart = release.local_chart
        if chart is None:
            assert release.chart == "langfuse"
            chart = (
                langfuse_chart
                if isinstance(langfuse_chart, Path)
                else _stand_in(reference, tmp_path / "stand-in")
            )
        assert stored_values(values) == _stored(helm, release, chart, values), release.name
        compared.append(release.name)
    assert "langfuse" in compared


def test_ci_langfuse_keeps_its_nulls_as_helm_does(
    helm: Helm, reference: Reference, tmp_path: Path
) -> None:
    """The case that made every rerun upgrade Langfuse: ci.yaml's `postgresql.port: null`
    (and `langfuse.ingress.annotations: null`) are nulls in Helm's stored values."""
    release = load_environments()["ci"].release("langfuse")
    stored = _stored(
        helm, release, _stand_in(reference, tmp_path / "stand-in"), list(release.values)
    )
    assert "port" in stored["postgresql"]
    assert stored["postgresql"]["port"] is None
    assert stored["langfuse"]["ingress"]["annotations"] is None
    merged = stored_values(release.values)
    assert merged["postgresql"]["port"] is None
    assert merged["langfuse"]["ingress"]["annotations"] is None
