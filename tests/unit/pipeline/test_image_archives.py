"""The pipeline's list of image archives: exactly one per image, named as the pods run it,
mounted into k3s's import folder."""

from __future__ import annotations

import pytest

from pipeline import k3s
from pipeline.image_archives import (
    CONTAINERD_NAME,
    OCI_REF_NAME,
    ImageArchive,
    image_archives,
    tag_of,
)
from pipeline.images import SERVICE_IMAGES, cluster_references, platform_values


def ci_archives() -> tuple[ImageArchive, ...]:
    return image_archives(cluster_references(platform_values("ci")))


def test_exactly_one_archive_per_image() -> None:
    archives = ci_archives()
    assert [archive.service for archive in archives] == [image.name for image in SERVICE_IMAGES]
    assert len({archive.path for archive in archives}) == len(SERVICE_IMAGES)


def test_each_archive_is_a_tar_in_k3s_import_folder() -> None:
    for archive in ci_archives():
        assert archive.path == f"{k3s.IMPORT_DIR}/{archive.service}.tar"


def test_each_archive_is_named_as_the_test_cluster_runs_it() -> None:
    by_service = {archive.service: archive for archive in ci_archives()}
    assert by_service["gateway"].annotations == {
        CONTAINERD_NAME: "docker.io/ai-platform/gateway:ci",
        OCI_REF_NAME: "ci",
    }
    assert {archive.reference for archive in ci_archives()} == set(
        cluster_references(platform_values("ci")).values()
    )


def test_the_names_are_containerds_own() -> None:
    # containerd's importer reads these two (core/images/archive/exporter.go writes them).
    assert CONTAINERD_NAME == "io.containerd.image.name"
    assert OCI_REF_NAME == "org.opencontainers.image.ref.name"


def test_tags_are_found_after_the_last_slash() -> None:
    assert tag_of("docker.io/ai-platform/gateway:ci") == "ci"
    assert tag_of("localhost:5000/gateway:abc123") == "abc123"
    with pytest.raises(ValueError, match="has no tag"):
        tag_of("localhost:5000/gateway")
