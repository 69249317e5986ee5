"""Every manifest validates strictly: built-in kinds against the pinned Kubernetes version,
External Secrets' kinds against the pinned CRDs. No schema is a failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from platform_deploy.checks.schemas import CustomResourceSchemas, SchemaValidator
from platform_deploy.config.environments import EnvironmentName
from platform_deploy.config.external_secrets import GENERATED_DIR
from platform_deploy.config.files import load_manifests, yaml_files
from platform_deploy.config.versions import Versions
from platform_deploy.rendering import EnvironmentRender


@pytest.fixture(scope="module")
def validator(versions: Versions, crds_dir: Path) -> SchemaValidator:
    return SchemaValidator(versions.kubernetes, CustomResourceSchemas.from_directory(crds_dir))


def test_rendered_and_static_manifests_validate(
    validator: SchemaValidator,
    rendered: dict[EnvironmentName, EnvironmentRender],
    environment: EnvironmentName,
) -> None:
    manifests = rendered[environment].project()
    assert manifests
    problems = [problem for manifest in manifests for problem in validator.problems(manifest)]
    assert problems == []


def test_committed_generated_manifests_validate(validator: SchemaValidator) -> None:
    manifests = load_manifests(yaml_files(GENERATED_DIR))
    assert {m["kind"] for m in manifests} == {"ExternalSecret", "ClusterSecretStore"}
    assert [p for m in manifests for p in validator.problems(m)] == []


def test_the_validator_rejects_what_the_api_server_would(validator: SchemaValidator) -> None:
    unknown_field = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "namespace": "default"},
        "data": {"a": "b"},
        "unexpected": True,
    }
    assert validator.problems(unknown_field)
    misspelt = {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "x", "namespace": "default"},
        "spec": {"secretStoreRef": {"kind": "ClusterSecretStore", "name": "s"}, "dta": []},
    }
    assert any("dta" in problem for problem in validator.problems(misspelt))
    # The creation policy is checked against the CRD's enum (Owner, Orphan, Merge, ...).
    bad_policy = {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "x", "namespace": "default"},
        "spec": {
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": "s"},
            "target": {"name": "x", "creationPolicy": "Keep"},
        },
    }
    assert any("Keep" in problem for problem in validator.problems(bad_policy))
    unknown_kind = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "x"}}
    assert any("no schema" in problem for problem in validator.problems(unknown_kind))


def test_the_langfuse_chart_render_validates(
    validator: SchemaValidator,
    rendered: dict[EnvironmentName, EnvironmentRender],
    environment: EnvironmentName,
) -> None:
    langfuse = rendered[environment].langfuse
    if langfuse is None:
        pytest.skip(f"Langfuse chart not rendered: {rendered[environment].langfuse_unavailable}")
    assert [p for m in langfuse for p in validator.problems(m)] == []
