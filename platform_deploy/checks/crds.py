"""The External Secrets Operator CRDs (chart 2.9.0) the schema checks validate against.

Two sources, one required:
- EXTERNAL_SECRETS_CRDS: a folder of CRD files (.ci/run uses
  ../shared/data/external-secrets-v2.9.0, the operator's config/crds/bases at v2.9.0).
- The chart itself: EXTERNAL_SECRETS_CHART_DIR (an unpacked chart) or, failing that, `helm
  pull` from the pinned repository. Chart 2.9.0 carries the CRDs as templates
  (templates/crds/*.yaml), each gated by `installCRDs` and, for the cluster-scoped kinds and
  the push kind, by `crds.create<Kind>` too; all default to true. Its render's
  CustomResourceDefinitions are written one per file into the cache (derive_crds).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from platform_deploy.checks.langfuse_chart import obtain_chart
from platform_deploy.config.files import (
    Manifest,
    dump_manifests,
    load_manifests,
    load_mapping,
    yaml_files,
)
from platform_deploy.config.versions import ChartPin
from platform_deploy.helm.client import Helm

CRDS_ENV = "EXTERNAL_SECRETS_CRDS"
CHART_DIR_ENV = "EXTERNAL_SECRETS_CHART_DIR"
# The CRDs our manifests use: ClusterSecretStore and ExternalSecret.
REQUIRED_CRDS = (
    "clustersecretstores.external-secrets.io",
    "externalsecrets.external-secrets.io",
)
RELEASE = "external-secrets"
NAMESPACE = "external-secrets"
# The switches chart 2.9.0 gates those two CRD templates with (their defaults, set here so a
# render of the chart holds them whatever its defaults become).
CRD_VALUES: dict[str, Any] = {"installCRDs": True, "crds": {"createClusterSecretStore": True}}
DERIVED_HEADER = "# Derived by platform_deploy.checks.crds from chart {version}'s render.\n"


def resolve_crds(helm: Helm, pin: ChartPin, cache: Path) -> Path:
    """The folder named by EXTERNAL_SECRETS_CRDS if set, else one derived from the chart
    (EXTERNAL_SECRETS_CHART_DIR or a pull of the pinned chart) into cache."""
    raw = os.environ.get(CRDS_ENV)
    if raw:
        return crds_folder(Path(raw), CRDS_ENV)
    chart = obtain_chart(helm, pin, cache, CHART_DIR_ENV)
    if isinstance(chart, str):
        raise LookupError(missing_message(chart))
    return derive_crds(helm, chart, cache / f"crds-{pin.version}")


def missing_message(reason: str) -> str:
    return (
        f"no External Secrets CRDs: {CRDS_ENV} is not set (point it at a folder of the CRD "
        "files; .ci/run uses ../shared/data/external-secrets-v2.9.0), and the chart itself "
        f"cannot be had ({reason}; set {CHART_DIR_ENV} to an unpacked chart or allow "
        "`helm pull`)"
    )


def crds_folder(directory: Path, source: str) -> Path:
    """directory, if it holds the CRDs our manifests use; else FileNotFoundError saying what
    is missing."""
    if not directory.is_dir():
        raise FileNotFoundError(f"{source}={directory} is not a folder")
    found = {
        str(crd["metadata"]["name"])
        for crd in load_manifests(yaml_files(directory))
        if crd.get("kind") == "CustomResourceDefinition"
    }
    missing = [name for name in REQUIRED_CRDS if name not in found]
    if missing:
        raise FileNotFoundError(
            f"{source}={directory} holds no CustomResourceDefinition {', '.join(missing)}"
        )
    return directory


def derive_crds(helm: Helm, chart: Path, cache: Path) -> Path:
    """The CRDs of the chart's render, one file per CRD in cache (reused if there)."""
    if cache.is_dir():
        return crds_folder(cache, "derived CRDs")
    building = cache.with_name(cache.name + ".partial")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    values = building.with_name(cache.name + ".values.yaml")
    values.write_text(yaml.safe_dump(CRD_VALUES, sort_keys=False), encoding="utf-8")
    try:
        rendered = helm.template(RELEASE, chart, NAMESPACE, [values])
    finally:
        values.unlink()
    version = load_mapping(chart / "Chart.yaml").get("version")
    header = DERIVED_HEADER.format(version=version)
    write_crds(custom_resource_definitions(rendered), building, header)
    crds_folder(building, f"the render of {chart}")
    building.rename(cache)
    return cache


def custom_resource_definitions(rendered: Iterable[Manifest]) -> list[Manifest]:
    """The CustomResourceDefinitions of a render, in render order."""
    return [manifest for manifest in rendered if manifest.get("kind") == "CustomResourceDefinition"]


def crd_file_name(crd: Manifest) -> str:
    """<group>_<plural>.yaml, as controller-gen names them (and the shared folder does)."""
    spec = crd["spec"]
    return f"{spec['group']}_{spec['names']['plural']}.yaml"


def write_crds(crds: Iterable[Manifest], directory: Path, header: str = "") -> list[Path]:
    written = []
    for crd in crds:
        path = directory / crd_file_name(crd)
        if path in written:
            raise ValueError(f"the render holds {crd['metadata']['name']} twice")
        path.write_text(header + dump_manifests([crd]), encoding="utf-8")
        written.append(path)
    return written
