"""Which images the pipeline builds, and their names: in the test cluster and in the registry.

The names come from the platform chart's values, the same files the deploy engine installs
from: the chart's values.yaml, overlaid by the environment's values files
(deploy/environments.yaml). The test cluster runs `<repository>:<tag>` as ci.yaml gives it
(side-loaded, pullPolicy IfNotPresent); production runs `<repository>@<digest>` with the
repository from prod.yaml and the digest this pipeline records after publishing.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platform_deploy.config.environments import EnvironmentName, load_environments
from platform_deploy.config.files import REPO_ROOT, load_mapping
from platform_deploy.helm.values import coalesce

# Base of the pipeline's own containers: the services' base image, by the same digest (their
# Dockerfiles' `ARG PYTHON_BASE` default; a unit test keeps them equal).
PYTHON_IMAGE = (
    "docker.io/library/python:3.11.15-slim-bookworm"
    "@sha256:d29f48a31a8b408ed19272ca1e7b10ebae13b240a27e862d3d4217c528e2e0c3"
)
PLATFORM_RELEASE = "platform"


@dataclass(frozen=True)
class ServiceImage:
    name: str
    dockerfile: str  # relative to the repository root, which is the build context
    values_key: str  # the key under `images:` in the platform chart's values
    in_production: bool  # only what production runs is published


SERVICE_IMAGES: tuple[ServiceImage, ...] = (
    ServiceImage("gateway", "services/gateway/Dockerfile", "gateway", in_production=True),
    ServiceImage("litellm", "services/litellm/Dockerfile", "litellm", in_production=True),
    # A test stand-in for the paid APIs: built for the test cluster, never published.
    ServiceImage(
        "provider-emulator",
        "services/provider-emulator/Dockerfile",
        "providerEmulator",
        in_production=False,
    ),
)


def normalize_reference(reference: str) -> str:
    """The fully qualified name containerd and the kubelet use for an image reference.

    `ai-platform/gateway:ci` -> `docker.io/ai-platform/gateway:ci`,
    `redis:7` -> `docker.io/library/redis:7`; a name whose first part is a host stays.
    """
    if not reference or reference != reference.strip() or "@" in reference:
        raise ValueError(f"expected <name>:<tag>, got {reference!r}")
    first, _, rest = reference.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return reference
    if not rest:
        return f"docker.io/library/{reference}"
    return f"docker.io/{reference}"


def _image_values(values: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    images = values.get("images")
    entry = images.get(key) if isinstance(images, Mapping) else None
    if not isinstance(entry, Mapping):
        raise ValueError(f"the platform chart's values have no images.{key}")
    return entry


def cluster_references(values: Mapping[str, Any]) -> dict[str, str]:
    """service -> the normalized `<repository>:<tag>` the test cluster's pods run."""
    references = {}
    for image in SERVICE_IMAGES:
        entry = _image_values(values, image.values_key)
        repository, tag = str(entry.get("repository") or ""), str(entry.get("tag") or "")
        if not repository or not tag:
            raise ValueError(f"images.{image.values_key} needs a repository and a tag here")
        references[image.name] = normalize_reference(f"{repository}:{tag}")
    return references


def production_repositories(values: Mapping[str, Any]) -> dict[str, str]:
    """service -> the registry repository production pulls it from, for published images."""
    repositories = {}
    for image in SERVICE_IMAGES:
        if image.in_production:
            repository = str(_image_values(values, image.values_key).get("repository") or "")
            if "." not in repository.partition("/")[0]:
                raise ValueError(
                    f"images.{image.values_key}.repository must name a registry host, "
                    f"got {repository!r}"
                )
            repositories[image.name] = repository
    return repositories


def platform_values(environment: EnvironmentName) -> dict[str, Any]:
    """The platform release's values for an environment, merged as Helm merges them."""
    release = load_environments()[environment].release(PLATFORM_RELEASE)
    chart = release.local_chart
    if chart is None:
        raise ValueError(f"the {PLATFORM_RELEASE} release's chart is not in this repository")
    values: dict[str, Any] = load_mapping(chart / "values.yaml")
    for path in release.values:
        values = coalesce(values, load_mapping(path))
    return values


def source_revision(root: Path = REPO_ROOT, env: Mapping[str, str] = os.environ) -> str:
    """The commit being built: GITHUB_SHA in Actions, else `git rev-parse HEAD`."""
    if env.get("GITHUB_SHA"):
        return env["GITHUB_SHA"]
    result = subprocess.run(
        ["git", "rev-parse", "HEAD"],  # noqa: S607  (git from PATH, fixed arguments)
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def uncommitted_changes(root: Path = REPO_ROOT) -> list[str]:
    """Paths `git status` reports as changed; publishing refuses to run with any."""
    result = subprocess.run(
        ["git", "status", "--porcelain"],  # noqa: S607  (git from PATH, fixed arguments)
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return [line[3:] for line in result.stdout.splitlines() if line.strip()]
