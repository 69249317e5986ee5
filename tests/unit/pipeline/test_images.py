"""Image names and tags: read from the chart's values as the deploy engine installs them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.images import (
    PYTHON_IMAGE,
    SERVICE_IMAGES,
    cluster_references,
    normalize_reference,
    platform_values,
    production_repositories,
    source_revision,
)

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("reference", "normalized"),
    [
        ("ai-platform/gateway:ci", "docker.io/ai-platform/gateway:ci"),
        ("redis:7.4.2-alpine", "docker.io/library/redis:7.4.2-alpine"),
        ("docker.io/ai-platform/gateway:ci", "docker.io/ai-platform/gateway:ci"),
        (
            "ghcr.io/el-jefe-me/ai-platform/gateway:abc",
            "ghcr.io/el-jefe-me/ai-platform/gateway:abc",
        ),
        ("localhost:5000/gateway:ci", "localhost:5000/gateway:ci"),
        ("localhost/gateway:ci", "localhost/gateway:ci"),
    ],
)
def test_references_are_normalized_as_containerd_names_them(
    reference: str, normalized: str
) -> None:
    assert normalize_reference(reference) == normalized


@pytest.mark.parametrize("reference", ["", " gateway:ci", "gateway@sha256:00"])
def test_what_is_not_a_tagged_name_is_refused(reference: str) -> None:
    with pytest.raises(ValueError, match="expected <name>:<tag>"):
        normalize_reference(reference)


def test_the_test_cluster_runs_the_names_ci_values_give() -> None:
    assert cluster_references(platform_values("ci")) == {
        "gateway": "docker.io/ai-platform/gateway:ci",
        "litellm": "docker.io/ai-platform/litellm:ci",
        "provider-emulator": "docker.io/ai-platform/provider-emulator:ci",
    }


def test_production_pulls_gateway_and_litellm_from_ghcr_and_never_the_emulator() -> None:
    assert production_repositories(platform_values("prod")) == {
        "gateway": "ghcr.io/el-jefe-me/ai-platform/gateway",
        "litellm": "ghcr.io/el-jefe-me/ai-platform/litellm",
    }


def test_an_image_without_a_tag_or_a_registry_host_is_refused() -> None:
    values = {
        "images": {
            "gateway": {"repository": "ai-platform/gateway", "tag": ""},
            "litellm": {"repository": "ai-platform/litellm", "tag": "ci"},
            "providerEmulator": {"repository": "ai-platform/provider-emulator", "tag": "ci"},
        }
    }
    with pytest.raises(ValueError, match=r"images\.gateway needs a repository and a tag"):
        cluster_references(values)
    with pytest.raises(ValueError, match="must name a registry host"):
        production_repositories(values)


def test_each_service_has_its_dockerfile() -> None:
    for image in SERVICE_IMAGES:
        assert (REPO_ROOT / image.dockerfile).is_file(), image.dockerfile


def dockerfile_bases(text: str) -> set[str]:
    """The images a Dockerfile's stages start from, `${ARG}` resolved to the ARG's default."""
    defaults = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, flags=re.MULTILINE))
    bases = set()
    for base in re.findall(r"^FROM\s+(\S+)", text, flags=re.MULTILINE):
        argument = re.fullmatch(r"\$\{?(\w+)\}?", base)
        bases.add(defaults[argument.group(1)] if argument else base)
    return bases


def test_the_tools_container_uses_the_services_python() -> None:
    # One Python patch release, by one digest, across the images and the pipeline's containers.
    for image in SERVICE_IMAGES:
        bases = dockerfile_bases((REPO_ROOT / image.dockerfile).read_text())
        assert {normalize_base(base) for base in bases} == {PYTHON_IMAGE}, image.name


def normalize_base(base: str) -> str:
    return base if base.startswith("docker.io/") else f"docker.io/library/{base}"


def test_the_revision_is_githubs_when_given_else_gits() -> None:
    assert source_revision(REPO_ROOT, {"GITHUB_SHA": "abc123"}) == "abc123"
    assert re.fullmatch(r"[0-9a-f]{40}", source_revision(REPO_ROOT, {}))
