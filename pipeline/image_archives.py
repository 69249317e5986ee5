"""The image archives k3s imports: one per service image, named, mounted into its import folder.

This list is every file the pipeline creates or mounts for the images on their way into the
test cluster, so a test can hold it to one archive per image. Each archive is made in one
step and never copied:

- the built image, with two OCI annotations that name it, as one tarball
  (`Container.with_annotation(...).as_tarball()`): Dagger puts a container's annotations on
  the manifest's descriptor in the tarball's index.json, and containerd (so k3s's import
  folder) imports an OCI archive under its `io.containerd.image.name` annotation;
- that file mounted (`with_mounted_file`) at its path in k3s's import folder after the state
  wipe, so it is neither copied into the k3s container nor kept on its state volume.

What remains are the image's own layers in the engine and containerd's copy once imported,
which the cluster runs. The manifest in the archive carries the two annotations; its config
and layers (what a pod runs) are the blobs `publish` pushes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pipeline.images import SERVICE_IMAGES
from pipeline.k3s import IMPORT_DIR

# The names containerd's own exporter gives a named image (core/images/archive/exporter.go,
# addNameAnnotation), which its importer reads back.
CONTAINERD_NAME = "io.containerd.image.name"
OCI_REF_NAME = "org.opencontainers.image.ref.name"


def tag_of(reference: str) -> str:
    """`docker.io/ai-platform/gateway:ci` -> `ci` (a port in the host is not a tag)."""
    last = reference.rsplit("/", 1)[-1]
    if ":" not in last:
        raise ValueError(f"{reference!r} has no tag")
    return last.rsplit(":", 1)[1]


@dataclass(frozen=True)
class ImageArchive:
    service: str
    reference: str  # the name the pods run it by, which containerd imports it under
    path: str  # where the k3s service sees it: mounted, not copied

    @property
    def annotations(self) -> dict[str, str]:
        return {CONTAINERD_NAME: self.reference, OCI_REF_NAME: tag_of(self.reference)}


def image_archives(references: Mapping[str, str]) -> tuple[ImageArchive, ...]:
    """One archive per service image, in SERVICE_IMAGES' order."""
    return tuple(
        ImageArchive(image.name, references[image.name], f"{IMPORT_DIR}/{image.name}.tar")
        for image in SERVICE_IMAGES
    )
