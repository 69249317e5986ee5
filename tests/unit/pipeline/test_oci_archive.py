"""Naming an image archive for containerd: on an archive shaped like Dagger's as_tarball."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from pipeline.oci_archive import CONTAINERD_NAME, OCI_REF_NAME, name_archive, tag_of

REFERENCE = "docker.io/ai-platform/gateway:ci"
OCI_SCRIPT = Path(__file__).resolve().parents[3] / "pipeline" / "oci_archive.py"


def blob(data: bytes) -> tuple[str, bytes]:
    return f"sha256:{hashlib.sha256(data).hexdigest()}", data


def write_archive(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))


def oci_layout(manifests: int = 1, docker_manifest: bool = False) -> dict[str, bytes]:
    """An OCI image layout: oci-layout, index.json and blobs (no name anywhere)."""
    layer_digest, layer = blob(b"layer bytes")
    config_digest, config = blob(b'{"architecture":"amd64","os":"linux"}')
    manifest_digest, manifest = blob(
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"digest": config_digest, "size": len(config)},
                "layers": [{"digest": layer_digest, "size": len(layer)}],
            }
        ).encode()
    )
    descriptor = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": manifest_digest,
        "size": len(manifest),
        "platform": {"architecture": "amd64", "os": "linux"},
    }
    members = {
        "oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
        "index.json": json.dumps(
            {"schemaVersion": 2, "manifests": [descriptor] * manifests}
        ).encode(),
        f"blobs/sha256/{layer_digest[7:]}": layer,
        f"blobs/sha256/{config_digest[7:]}": config,
        f"blobs/sha256/{manifest_digest[7:]}": manifest,
    }
    if docker_manifest:
        entry: dict[str, object] = {
            "Config": f"blobs/sha256/{config_digest[7:]}",
            "RepoTags": None,
            "Layers": [],
        }
        members["manifest.json"] = json.dumps([entry]).encode()
    return members


def read_archive(path: Path) -> dict[str, bytes]:
    files = {}
    with tarfile.open(path) as archive:
        for member in archive:
            data = archive.extractfile(member)
            if data is not None:
                files[member.name] = data.read()
    return files


def test_the_index_names_the_image_and_nothing_else_changes(tmp_path: Path) -> None:
    source, target = tmp_path / "in.tar", tmp_path / "out.tar"
    original = oci_layout()
    write_archive(source, original)
    name_archive(source, target, REFERENCE)

    named = read_archive(target)
    assert list(named) == list(original)  # same members, same order
    for member, data in original.items():
        if member != "index.json":
            assert named[member] == data, member
    index = json.loads(named["index.json"])
    before = json.loads(original["index.json"])
    assert index["manifests"][0]["annotations"] == {
        CONTAINERD_NAME: REFERENCE,
        OCI_REF_NAME: "ci",
    }
    del index["manifests"][0]["annotations"]
    assert index == before


def test_a_docker_manifest_gets_the_name_as_its_repo_tag(tmp_path: Path) -> None:
    source, target = tmp_path / "in.tar", tmp_path / "out.tar"
    write_archive(source, oci_layout(docker_manifest=True))
    name_archive(source, target, REFERENCE)
    manifest = json.loads(read_archive(target)["manifest.json"])
    assert manifest[0]["RepoTags"] == [REFERENCE]


def test_an_archive_with_two_images_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "in.tar"
    write_archive(source, oci_layout(manifests=2))
    with pytest.raises(ValueError, match=r"expected one image in the archive's index\.json"):
        name_archive(source, tmp_path / "out.tar", REFERENCE)


def test_an_archive_that_is_no_image_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "in.tar"
    write_archive(source, {"README": b"not an image"})
    with pytest.raises(ValueError, match="neither an OCI image layout"):
        name_archive(source, tmp_path / "out.tar", REFERENCE)
    assert not (tmp_path / "out.tar").exists()


def test_tags_are_found_after_the_last_slash() -> None:
    assert tag_of("docker.io/ai-platform/gateway:ci") == "ci"
    assert tag_of("localhost:5000/gateway:abc123") == "abc123"
    with pytest.raises(ValueError, match="has no tag"):
        tag_of("localhost:5000/gateway")


def test_it_runs_as_a_lone_file(tmp_path: Path) -> None:
    """In the pipeline it is copied alone into a plain Python container and run by path."""
    lone = tmp_path / "oci_archive.py"
    lone.write_bytes(OCI_SCRIPT.read_bytes())
    # Into a folder that does not exist yet, as in the container (/out).
    source, target = tmp_path / "in.tar", tmp_path / "out" / "gateway.tar"
    write_archive(source, oci_layout())
    result = subprocess.run(
        [sys.executable, "-I", str(lone), str(source), str(target), REFERENCE],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (
        json.loads(read_archive(target)["index.json"])["manifests"][0]["annotations"][
            CONTAINERD_NAME
        ]
        == REFERENCE
    )
