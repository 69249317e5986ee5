"""The External Secrets CRDs derived from the chart: which documents of a render are kept,
how they are written, and what each missing source says. Tiny hand-written CRDs only; the
real chart's derivation runs in tests/manifests (EXTERNAL_SECRETS_CHART_DIR or a pull)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from platform_deploy.checks.crds import (
    CHART_DIR_ENV,
    CRDS_ENV,
    crds_folder,
    custom_resource_definitions,
    derive_crds,
    resolve_crds,
    write_crds,
)
from platform_deploy.checks.langfuse_chart import obtain_chart
from platform_deploy.config.files import Manifest, load_manifests, parse_manifests
from platform_deploy.config.versions import ChartPin
from platform_deploy.helm.client import Helm

PIN = ChartPin("external-secrets", "2.9.0", "https://charts.example.invalid")


def _crd(plural: str, kind: str) -> Manifest:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.external-secrets.io"},
        "spec": {
            "group": "external-secrets.io",
            "names": {"kind": kind, "plural": plural},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "schema": {"openAPIV3Schema": {"type": "object"}},
                }
            ],
        },
    }


RENDER = """\
---
# Source: external-secrets/templates/serviceaccount.yaml
apiVersion: v1
kind: ServiceAccount
metadata: {name: external-secrets}
---
# Source: external-secrets/templates/crds/clustersecretstore.yaml
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: clustersecretstores.external-secrets.io}
spec:
  group: external-secrets.io
  names: {kind: ClusterSecretStore, plural: clustersecretstores}
  versions: [{name: v1, served: true, schema: {openAPIV3Schema: {type: object}}}]
---
# Source: external-secrets/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata: {name: external-secrets}
---
# Source: external-secrets/templates/crds/externalsecret.yaml
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: externalsecrets.external-secrets.io}
spec:
  group: external-secrets.io
  names: {kind: ExternalSecret, plural: externalsecrets}
  versions: [{name: v1, served: true, schema: {openAPIV3Schema: {type: object}}}]
"""


class FakeHelm:
    def __init__(self, rendered: list[Manifest]) -> None:
        self.rendered = rendered
        self.values: list[Any] = []

    def template(
        self, release: str, chart: Path, namespace: str, values: Sequence[Path] = ()
    ) -> list[Manifest]:
        self.values += [yaml.safe_load(path.read_text(encoding="utf-8")) for path in values]
        return self.rendered


def _chart(directory: Path, name: str = "external-secrets", version: str = "2.9.0") -> Path:
    directory.mkdir(parents=True)
    chart = {"apiVersion": "v2", "name": name, "version": version}
    (directory / "Chart.yaml").write_text(yaml.safe_dump(chart), encoding="utf-8")
    return directory


def test_only_the_custom_resource_definitions_of_a_render_are_kept() -> None:
    crds = custom_resource_definitions(parse_manifests(RENDER, "render"))
    assert [crd["metadata"]["name"] for crd in crds] == [
        "clustersecretstores.external-secrets.io",
        "externalsecrets.external-secrets.io",
    ]


def test_each_crd_is_written_to_a_file_of_its_own(tmp_path: Path) -> None:
    crds = [_crd("externalsecrets", "ExternalSecret"), _crd("pushsecrets", "PushSecret")]
    written = write_crds(crds, tmp_path, "# derived\n")
    assert [path.name for path in written] == [
        "external-secrets.io_externalsecrets.yaml",
        "external-secrets.io_pushsecrets.yaml",
    ]
    assert written[0].read_text(encoding="utf-8").startswith("# derived\n")
    assert load_manifests(written) == crds
    (tmp_path / "again").mkdir()
    with pytest.raises(ValueError, match="twice"):
        write_crds([crds[0], crds[0]], tmp_path / "again")


def test_a_crds_folder_must_hold_both_crds_our_manifests_use(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=f"{CRDS_ENV}=.*is not a folder"):
        crds_folder(tmp_path / "absent", CRDS_ENV)
    write_crds([_crd("externalsecrets", "ExternalSecret")], tmp_path)
    with pytest.raises(FileNotFoundError, match="no CustomResourceDefinition clustersecretstores"):
        crds_folder(tmp_path, CRDS_ENV)
    write_crds([_crd("clustersecretstores", "ClusterSecretStore")], tmp_path)
    assert crds_folder(tmp_path, CRDS_ENV) == tmp_path


def test_the_crds_are_derived_from_the_chart_once(tmp_path: Path) -> None:
    chart = _chart(tmp_path / "chart")
    helm = FakeHelm(parse_manifests(RENDER, "render"))

    derived = derive_crds(cast(Helm, helm), chart, tmp_path / "cache" / "crds")

    assert sorted(path.name for path in derived.iterdir()) == [
        "external-secrets.io_clustersecretstores.yaml",
        "external-secrets.io_externalsecrets.yaml",
    ]
    assert helm.values == [{"installCRDs": True, "crds": {"createClusterSecretStore": True}}]
    assert sorted(path.name for path in (tmp_path / "cache").iterdir()) == ["crds"]
    helm.values = []
    assert derive_crds(cast(Helm, helm), chart, tmp_path / "cache" / "crds") == derived
    assert helm.values == []


def test_a_render_without_the_crds_is_an_error(tmp_path: Path) -> None:
    chart = _chart(tmp_path / "chart")
    helm = FakeHelm([_crd("externalsecrets", "ExternalSecret")])
    with pytest.raises(FileNotFoundError, match="no CustomResourceDefinition clustersecretstores"):
        derive_crds(cast(Helm, helm), chart, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_the_crds_variable_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "crds"
    folder.mkdir()
    write_crds(custom_resource_definitions(parse_manifests(RENDER, "render")), folder)
    monkeypatch.setenv(CRDS_ENV, str(folder))
    monkeypatch.setenv(CHART_DIR_ENV, str(tmp_path / "nowhere"))
    assert resolve_crds(cast(Helm, FakeHelm([])), PIN, tmp_path / "cache") == folder


def test_without_either_source_the_error_names_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CRDS_ENV, raising=False)
    monkeypatch.setenv(CHART_DIR_ENV, str(tmp_path))  # no Chart.yaml: nothing is pulled
    with pytest.raises(LookupError) as raised:
        resolve_crds(cast(Helm, FakeHelm([])), PIN, tmp_path / "cache")
    message = str(raised.value)
    assert CRDS_ENV in message
    assert f"{CHART_DIR_ENV}={tmp_path} holds no Chart.yaml" in message
    assert "helm pull" in message


def test_the_chart_folder_must_be_the_pinned_chart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    helm = cast(Helm, FakeHelm([]))
    monkeypatch.setenv(CHART_DIR_ENV, str(_chart(tmp_path / "other", name="langfuse")))
    assert obtain_chart(helm, PIN, tmp_path, CHART_DIR_ENV) == (
        f"{CHART_DIR_ENV} holds chart langfuse, not external-secrets"
    )
    monkeypatch.setenv(CHART_DIR_ENV, str(_chart(tmp_path / "old", version="2.8.0")))
    assert obtain_chart(helm, PIN, tmp_path, CHART_DIR_ENV) == (
        f"{CHART_DIR_ENV} holds chart 2.8.0, not the pinned 2.9.0"
    )
    monkeypatch.setenv(CHART_DIR_ENV, str(_chart(tmp_path / "pinned")))
    assert obtain_chart(helm, PIN, tmp_path, CHART_DIR_ENV) == tmp_path / "pinned"
