"""Building the project's images for the container tier: from a clean context, on the official
base or its stand-in, trusting the host's extra CAs in the build stage only.

The service images are the pipeline's own list (pipeline/images.py), tagged exactly as the ci
render names them (`docker.io/ai-platform/<service>:ci`), so the rendered Deployments run
them unchanged. The Langfuse OTLP receiver is built too: the stand-in for Langfuse web.
"""

from __future__ import annotations

import base64
import shutil
import ssl
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.images import SERVICE_IMAGES, cluster_references, platform_values
from tests.e2e.docker_cli import BUILD_TIMEOUT_S, docker

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
IMAGE_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
RECEIVER_IMAGE = "localhost/stand-in-langfuse-otlp-receiver:e2e"


@dataclass(frozen=True)
class ImageBuild:
    name: str
    dockerfile: str  # relative to the repository root, the build context
    tag: str


def image_builds() -> list[ImageBuild]:
    """Every image the tier builds: the pipeline's services as ci names them, and the receiver."""
    references = cluster_references(platform_values("ci"))
    builds = [ImageBuild(i.name, i.dockerfile, references[i.name]) for i in SERVICE_IMAGES]
    builds.append(
        ImageBuild("langfuse-receiver", "devstack/langfuse_receiver/Dockerfile", RECEIVER_IMAGE)
    )
    return builds


def clean_context(target: Path, root: Path = REPO_ROOT) -> Path:
    """The files a fresh clone would have (tracked, plus new files git does not ignore), copied
    into `target`: no virtualenvs, caches, minted keys or local state can reach a build."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = root / name
        if source.is_file():  # deleted in the work tree but still in the index: skip
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    return target


def pem_certificates(text: str) -> list[str]:
    """Each PEM certificate block of a bundle, normalised to its own text."""
    blocks, current = [], []
    for line in text.splitlines():
        if line.strip() == "-----BEGIN CERTIFICATE-----":
            current = [line.strip()]
        elif current:
            current.append(line.strip())
            if line.strip() == "-----END CERTIFICATE-----":
                blocks.append("\n".join(current) + "\n")
                current = []
    return blocks


def host_only_certificates(base_image: str) -> list[str]:
    """The CAs this host trusts that the base image does not: what a TLS-intercepting proxy
    (as here) needs the build to trust, and what must never reach a runtime image."""
    host = pem_certificates(HOST_CA_BUNDLE.read_text()) if HOST_CA_BUNDLE.is_file() else []
    inside = docker("run", "--rm", "--entrypoint", "cat", base_image, IMAGE_CA_BUNDLE)
    image_ders = {ssl.PEM_cert_to_DER_cert(pem) for pem in pem_certificates(inside)}
    return [pem for pem in host if ssl.PEM_cert_to_DER_cert(pem) not in image_ders]


def build(image: ImageBuild, context: Path, python_base: str, ca_certificates: list[str]) -> None:
    args = ["build", "--file", str(context / image.dockerfile), "--tag", image.tag]
    args += ["--build-arg", f"PYTHON_BASE={python_base}"]
    env = {}
    if ca_certificates:
        # From the CLI's environment, so the certificates are not in this process's argv.
        args += ["--build-arg", "BUILD_CA_CERTS"]
        env["BUILD_CA_CERTS"] = "".join(ca_certificates)
    docker(*args, str(context), timeout=BUILD_TIMEOUT_S, env=env)


def image_size_mb(tag: str) -> float:
    return int(docker("image", "inspect", "--format", "{{.Size}}", tag)) / 1e6


def certificate_needles(pem: str) -> list[bytes]:
    """Byte strings that betray a certificate: its DER form and lines of its base64 body."""
    body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    der = base64.b64decode("".join(body))
    return [der, body[0].encode(), body[len(body) // 2].encode()]


def _files(archive: tarfile.TarFile) -> Iterator[tuple[str, bytes]]:
    for member in archive:
        data = archive.extractfile(member) if member.isfile() else None
        if data is not None:
            yield member.name, data.read()


def saved_image_mentions(saved: Path, needles: list[bytes]) -> list[str]:
    """Where in a `docker save` archive any needle occurs: a file inside a layer, or one of
    the archive's own files (the image config, which holds the history). Layers are read as
    streams, file by file, so a 1 GB layer is never held in memory at once."""
    found = []
    with tarfile.open(saved) as outer:
        for member in outer:
            data = outer.extractfile(member) if member.isfile() else None
            if data is None:
                continue
            if member.name.endswith(".tar"):
                with tarfile.open(fileobj=data, mode="r|") as layer:
                    for inner, content in _files(layer):
                        if any(needle in content for needle in needles):
                            found.append(f"{member.name}: {inner}")
            else:
                payload = data.read()
                if any(needle in payload for needle in needles):
                    found.append(member.name)
    return found
