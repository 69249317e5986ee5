"""Every secret reference resolves to a secret and key the inventory declares for that
namespace and environment, and the Langfuse chart creates no Secret of its own."""

from __future__ import annotations

import pytest

from platform_deploy.checks.langfuse_chart import Reference, secrets_the_chart_creates
from platform_deploy.checks.secret_refs import (
    SecretRef,
    refs_in_manifest,
    refs_in_values,
    unresolved,
)
from platform_deploy.config.environments import EnvironmentName
from platform_deploy.config.inventory import Inventory
from platform_deploy.rendering import EnvironmentRender


def test_references_in_the_rendered_manifests_resolve(
    rendered: dict[EnvironmentName, EnvironmentRender],
    inventory: Inventory,
    environment: EnvironmentName,
) -> None:
    refs = [ref for m in rendered[environment].project() for ref in refs_in_manifest(m, "default")]
    assert {ref.secret for ref in refs} >= {
        "litellm-master-key",
        "redis-secrets",
        "gateway-clients",
    }
    assert unresolved(refs, inventory, environment) == []


def test_references_in_the_langfuse_values_resolve(
    rendered: dict[EnvironmentName, EnvironmentRender],
    reference: Reference,
    inventory: Inventory,
    environment: EnvironmentName,
) -> None:
    release = rendered[environment].environment.release("langfuse")
    values = reference.merged_values(release.values)
    refs = list(refs_in_values(values, release.namespace, f"langfuse values ({environment})"))
    documented = {
        "langfuse-salt",
        "langfuse-encryption",
        "langfuse-nextauth",
        "langfuse-postgresql",
        "redis-secrets",
        "langfuse-clickhouse",
        "langfuse-s3",
    }
    assert {ref.secret for ref in refs} >= documented
    assert unresolved(refs, inventory, environment) == []
    assert secrets_the_chart_creates(values, release.name) == []


def test_an_unknown_secret_or_key_is_reported(inventory: Inventory) -> None:
    refs = [
        SecretRef("default", "redis-secrets", "password", "here"),
        SecretRef("langfuse", "litellm-master-key", "LITELLM_MASTER_KEY", "there"),
        SecretRef("langfuse", "langfuse-s3", None, "a key-less existingSecret"),
    ]
    problems = unresolved(refs, inventory, "prod")
    assert len(problems) == 3
    assert "has no key 'password'" in problems[0]
    assert "langfuse/litellm-master-key is not declared for prod" in problems[1]
    assert "names no key" in problems[2]


def test_the_langfuse_chart_render_creates_no_secret_and_its_references_resolve(
    rendered: dict[EnvironmentName, EnvironmentRender],
    inventory: Inventory,
    environment: EnvironmentName,
) -> None:
    langfuse = rendered[environment].langfuse
    if langfuse is None:
        pytest.skip(f"Langfuse chart not rendered: {rendered[environment].langfuse_unavailable}")
    assert [m["metadata"]["name"] for m in langfuse if m["kind"] == "Secret"] == []
    refs = [ref for m in langfuse for ref in refs_in_manifest(m, "langfuse")]
    assert unresolved(refs, inventory, environment) == []
