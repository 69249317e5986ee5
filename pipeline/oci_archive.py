"""Give an image archive the name containerd imports it under.

    python oci_archive.py SOURCE.tar TARGET.tar docker.io/ai-platform/gateway:ci

Dagger's `Container.as_tarball()` writes an OCI image layout with no name in it, and
containerd (so k3s's import folder) imports only images its archive names: the
`io.containerd.image.name` annotation on a manifest in index.json, or the RepoTags of a
Docker-style manifest.json. This copies the archive and sets both. Standard library only:
it runs as a lone file in a plain Python container.
"""

from __future__ import annotations

import io
import json
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CONTAINERD_NAME = "io.containerd.image.name"
OCI_REF_NAME = "org.opencontainers.image.ref.name"


def tag_of(reference: str) -> str:
    """`docker.io/ai-platform/gateway:ci` -> `ci` (a port in the host is not a tag)."""
    last = reference.rsplit("/", 1)[-1]
    if ":" not in last:
        raise ValueError(f"{reference!r} has no tag")
    return last.rsplit(":", 1)[1]


def name_index(index: dict[str, Any], reference: str) -> dict[str, Any]:
    manifests = index.get("manifests")
    if not isinstance(manifests, list) or len(manifests) != 1:
        count = len(manifests) if isinstance(manifests, list) else 0
        raise ValueError(f"expected one image in the archive's index.json, found {count}")
    annotations = dict(manifests[0].get("annotations") or {})
    annotations[CONTAINERD_NAME] = reference
    annotations[OCI_REF_NAME] = tag_of(reference)
    named = dict(index)
    named["manifests"] = [{**manifests[0], "annotations": annotations}]
    return named


def name_docker_manifest(manifest: list[dict[str, Any]], reference: str) -> list[dict[str, Any]]:
    if len(manifest) != 1:
        raise ValueError(
            f"expected one image in the archive's manifest.json, found {len(manifest)}"
        )
    return [{**manifest[0], "RepoTags": [reference]}]


def name_archive(source: Path, target: Path, reference: str) -> None:
    """Copy `source` to `target`, member by member, naming the image `reference`."""
    named_any = False
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(source, "r:*") as archive, tarfile.open(target, "w") as out:
        for member in archive:
            data = archive.extractfile(member) if member.isfile() else None
            path = member.name.removeprefix("./")
            if data is not None and path in ("index.json", "manifest.json"):
                document = json.load(data)
                if path == "index.json":
                    document = name_index(document, reference)
                else:
                    document = name_docker_manifest(document, reference)
                payload = json.dumps(document, separators=(",", ":")).encode()
                member.size = len(payload)
                out.addfile(member, io.BytesIO(payload))
                named_any = True
            else:
                out.addfile(member, data)
    if not named_any:
        target.unlink()
        raise ValueError(f"{source} is neither an OCI image layout nor a Docker image archive")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 3:
        print("usage: oci_archive.py SOURCE.tar TARGET.tar REFERENCE", file=sys.stderr)
        return 2
    source, target, reference = Path(args[0]), Path(args[1]), args[2]
    name_archive(source, target, reference)
    print(f"{target}: {reference}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
