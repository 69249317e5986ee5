"""Rendering an environment: its releases of this repository's charts, its NetworkPolicies,
its ExternalSecrets, and (where the chart can be had) the Langfuse chart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from platform_deploy.config.environments import Environment, Release
from platform_deploy.config.external_secrets import doppler_store, external_secrets
from platform_deploy.config.files import Manifest
from platform_deploy.config.inventory import Inventory
from platform_deploy.helm.client import Helm

CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "ClusterSecretStore",
    "PriorityClass",
    "StorageClass",
    "IngressClass",
}


def with_namespace(manifests: Sequence[Manifest], namespace: str) -> list[Manifest]:
    """Namespaced objects without metadata.namespace land in the release's namespace."""
    placed = []
    for manifest in manifests:
        if manifest.get("kind") not in CLUSTER_SCOPED:
            metadata = manifest.setdefault("metadata", {})
            metadata.setdefault("namespace", namespace)
        placed.append(manifest)
    return placed


def render_release(
    helm: Helm,
    release: Release,
    chart: Path,
    kube_version: str,
    extra_values: Sequence[Path] = (),
) -> list[Manifest]:
    manifests = helm.template(
        release.name,
        chart,
        release.namespace,
        [*release.values, *extra_values],
        kube_version=kube_version,
    )
    return with_namespace(manifests, release.namespace)


def secret_manifests(inventory: Inventory, environment: Environment) -> list[Manifest]:
    """The ExternalSecrets, and the store they read where the environment's secrets come
    from External Secrets (production's Doppler store; a test cluster generates its own)."""
    manifests = external_secrets(inventory, environment.name)
    if environment.deploy.secrets.source == "external-secrets":
        manifests.append(doppler_store(inventory))
    return manifests


@dataclass(frozen=True)
class EnvironmentRender:
    environment: Environment
    # Releases of this repository's charts, by release name.
    releases: Mapping[str, list[Manifest]]
    policies: list[Manifest]
    secrets: list[Manifest]
    # The Langfuse chart rendered for real, or None with the reason.
    langfuse: list[Manifest] | None = None
    langfuse_unavailable: str | None = field(default=None)

    def project(self) -> list[Manifest]:
        """What this repository deploys itself: chart releases, policies, ExternalSecrets."""
        return (
            [m for release in self.releases.values() for m in release]
            + self.policies
            + self.secrets
        )


def render_environment(
    helm: Helm,
    environment: Environment,
    inventory: Inventory,
    kube_version: str,
    extra_values: Mapping[str, Sequence[Path]],
    langfuse_chart: Path | str,
) -> EnvironmentRender:
    """extra_values: per release name, values files appended (production's image digests).
    langfuse_chart: the unpacked Langfuse chart, or why it cannot be had."""
    releases: dict[str, list[Manifest]] = {}
    langfuse: list[Manifest] | None = None
    for release in environment.releases:
        chart = release.local_chart
        if chart is not None:
            releases[release.name] = render_release(
                helm, release, chart, kube_version, extra_values.get(release.name, ())
            )
        elif release.chart != "langfuse":
            raise ValueError(f"{environment.name}/{release.name}: no chart {release.chart!r}")
        elif isinstance(langfuse_chart, Path):
            langfuse = render_release(helm, release, langfuse_chart, kube_version)
    return EnvironmentRender(
        environment=environment,
        releases=releases,
        policies=environment.policy_manifests(),
        secrets=secret_manifests(inventory, environment),
        langfuse=langfuse,
        langfuse_unavailable=None if isinstance(langfuse_chart, Path) else langfuse_chart,
    )
