"""The reference derived from a chart: what is extracted from a render, and which values
files are collected from the chart and its (packaged or unpacked, nested) subcharts."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import yaml

from platform_deploy.checks.langfuse_chart import Reference, extract_inventory
from platform_deploy.config.files import Manifest
from platform_deploy.helm.client import Helm

LABELS = {"app.kubernetes.io/name": "db", "app.kubernetes.io/instance": "langfuse"}
RENDERED: list[Manifest] = [
    {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": "langfuse-db",
            "namespace": "langfuse",
            "labels": {**LABELS, "helm.sh/chart": "db-1.0.0", "app.kubernetes.io/version": 17},
            "annotations": {"dropped": "yes"},
        },
        "spec": {"podSelector": {"matchLabels": LABELS}, "ingress": [{"ports": [{"port": 5432}]}]},
    },
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ignored"}},
    {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "langfuse-db", "namespace": "langfuse"},
        "spec": {
            "template": {
                "metadata": {"labels": {**LABELS, "shard": 0}},
                "spec": {
                    "initContainers": [{"name": "init", "image": "busybox", "ports": []}],
                    "containers": [
                        {"name": "db", "image": "db:17", "ports": [{"containerPort": 5432}]},
                        {"name": "metrics", "image": "exporter:1"},
                    ],
                },
            }
        },
    },
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "langfuse-web", "namespace": "langfuse"},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"image": "web:3", "ports": [{"containerPort": 3000}]}]},
            }
        },
    },
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "langfuse-db", "namespace": "langfuse"},
        "spec": {"selector": LABELS, "ports": [{"port": 5432, "targetPort": "tcp"}]},
    },
]


def test_the_inventory_has_services_then_workloads_then_policies() -> None:
    assert extract_inventory(RENDERED) == [
        {
            "kind": "Service",
            "name": "langfuse-db",
            "namespace": "langfuse",
            "selector": LABELS,
            "ports": [5432],
        },
        {
            "kind": "Deployment",
            "name": "langfuse-web",
            "namespace": "langfuse",
            "podLabels": {"app": "web"},
            "containerPorts": [3000],
            "image": ["web:3"],
        },
        {
            "kind": "StatefulSet",
            "name": "langfuse-db",
            "namespace": "langfuse",
            "podLabels": {**LABELS, "shard": "0"},
            "containerPorts": [5432],
            "image": ["db:17", "exporter:1"],
        },
        {
            "kind": "NetworkPolicy",
            "apiVersion": "networking.k8s.io/v1",
            "metadata": {
                "name": "langfuse-db",
                "namespace": "langfuse",
                "labels": {
                    **LABELS,
                    "helm.sh/chart": "db-1.0.0",
                    "app.kubernetes.io/version": "17",
                },
            },
            "spec": {
                "podSelector": {"matchLabels": LABELS},
                "ingress": [{"ports": [{"port": 5432}]}],
            },
        },
    ]


class FakeHelm:
    def __init__(self) -> None:
        self.values: list[Any] = []

    def template(
        self, release: str, chart: Path, namespace: str, values: Sequence[Path] = ()
    ) -> list[Manifest]:
        self.values = [yaml.safe_load(path.read_text(encoding="utf-8")) for path in values]
        return RENDERED


def _chart(directory: Path, name: str, version: str, deps: list[dict[str, str]]) -> None:
    directory.mkdir(parents=True)
    chart = {"apiVersion": "v2", "name": name, "version": version, "dependencies": deps}
    (directory / "Chart.yaml").write_text(yaml.safe_dump(chart), encoding="utf-8")
    (directory / "values.yaml").write_text(f"{name}Key: {version}\n", encoding="utf-8")


def _pack(source: Path, archive: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(source, arcname=source.name)
    archive.parent.mkdir(parents=True, exist_ok=True)
    archive.write_bytes(buffer.getvalue())


def test_from_chart_writes_the_reference_folder(tmp_path: Path) -> None:
    root = tmp_path / "chart" / "top"
    _chart(root, "top", "1.0.0", [{"name": "db", "version": "2.0.0", "alias": "store"}])
    _chart(root / "charts" / "db", "db", "2.0.0", [{"name": "zk", "version": "3.x.x"}])
    _chart(tmp_path / "src" / "zk", "zk", "3.1.0", [])
    _pack(tmp_path / "src" / "zk", root / "charts" / "db" / "charts" / "zk-3.1.0.tgz")
    helm = FakeHelm()

    reference = Reference.from_chart(cast(Helm, helm), root, tmp_path / "cache")

    assert reference.directory == tmp_path / "cache"
    assert sorted(p.name for p in (tmp_path / "cache" / "subcharts").iterdir()) == [
        "db-2.0.0.values.yaml",
        "zk-3.1.0.values.yaml",
    ]
    assert reference.chart_version() == "1.0.0"
    assert reference.inventory() == extract_inventory(RENDERED)
    assert helm.values[0]["redis"]["auth"]["existingSecret"] == "langfuse-redis"
    # Cached: a second call reads the folder and renders nothing.
    helm.values = []
    assert Reference.from_chart(cast(Helm, helm), root, tmp_path / "cache").inventory()
    assert helm.values == []
