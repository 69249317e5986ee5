"""The digests of the images the pipeline verified and published: where production reads them.

deploy/image-digests/prod.yaml is a values file for the platform release, the shape the
chart takes (`images.<key>.repository`, `images.<key>.digest`) and the one noxfile.py's
checkov session already renders with:

    python -m platform_deploy ... --values platform=deploy/image-digests/prod.yaml

The pipeline writes it after `verify` passed (`--publish`, on main in GitHub Actions) from
the same image objects it loaded into the test cluster; CI commits it. Production then runs
`<repository>@<digest>`: exactly the bytes that were verified.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from platform_deploy.config.files import REPO_ROOT

DIGESTS_FILE = REPO_ROOT / "deploy" / "image-digests" / "prod.yaml"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class PublishedImage:
    values_key: str  # images.<values_key> in the platform chart
    repository: str  # ghcr.io/<owner>/<repo>/<service>
    digest: str  # sha256:<64 hex>


def digest_of(address: str) -> str:
    """`Container.publish` returns `<repository>:<tag>@sha256:...`; the digest is the end."""
    _, at, digest = address.rpartition("@")
    if not at or not _DIGEST.fullmatch(digest):
        raise ValueError(f"the registry returned no sha256 digest: {address!r}")
    return digest


def render(images: Sequence[PublishedImage], revision: str) -> str:
    header = (
        "# Written by the pipeline (python -m pipeline --publish): the images of commit\n"
        f"# {revision}, published after they passed deploy and verify in the test cluster.\n"
        "# The platform release's values for prod: --values platform=<this file>.\n"
    )
    body = {
        "images": {
            image.values_key: {"repository": image.repository, "digest": image.digest}
            for image in images
        }
    }
    return header + yaml.safe_dump(body, sort_keys=False)


def parse(text: str) -> list[PublishedImage]:
    """Read a digests file back, checking its shape (what the chart's format check needs)."""
    data: Any = yaml.safe_load(text)
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, dict) or not images:
        raise ValueError("a digests file has an `images:` mapping")
    parsed = []
    for key, entry in images.items():
        if not isinstance(entry, dict):
            raise ValueError(f"images.{key} is not a mapping")
        digest = str(entry.get("digest", ""))
        if not _DIGEST.fullmatch(digest):
            raise ValueError(f"images.{key}.digest must be sha256:<64 hex>, got {digest!r}")
        parsed.append(PublishedImage(str(key), str(entry.get("repository", "")), digest))
    return parsed


def write(images: Sequence[PublishedImage], revision: str, path: Path = DIGESTS_FILE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(images, revision), encoding="utf-8")
    return path
