"""Where the deployment's files are, and how the tooling reads and writes YAML."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "deploy"

# One Kubernetes object, as parsed from YAML.
Manifest = dict[str, Any]
# The labels on what this repository creates itself (namespaces, Secrets, ExternalSecrets).
PART_OF = {"app.kubernetes.io/part-of": "ai-platform"}
MANAGED_BY = {"app.kubernetes.io/managed-by": "platform-deploy"}


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as stream:
        return yaml.safe_load(stream)


def load_mapping(path: Path) -> dict[str, Any]:
    data = load_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return data


def parse_manifests(text: str, source: str) -> list[Manifest]:
    """Every non-empty document of a multi-document YAML stream, each a mapping."""
    manifests: list[Manifest] = []
    for document in yaml.safe_load_all(text):
        if document is None:
            continue
        if not isinstance(document, dict):
            raise ValueError(f"{source}: a document is not a mapping")
        manifests.append(document)
    return manifests


def load_manifests(paths: Iterable[Path]) -> list[Manifest]:
    manifests: list[Manifest] = []
    for path in paths:
        manifests.extend(parse_manifests(path.read_text(encoding="utf-8"), str(path)))
    return manifests


def yaml_files(directory: Path) -> Iterator[Path]:
    yield from sorted(p for p in directory.rglob("*") if p.suffix in {".yaml", ".yml"})


def dump_manifests(manifests: Iterable[Manifest]) -> str:
    return yaml.safe_dump_all(list(manifests), sort_keys=False, explicit_start=True, width=100)


def relative(path: Path) -> str:
    """A repository path as people write it (deploy/...), for messages."""
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def describe(manifest: Manifest) -> str:
    """kind namespace/name, for messages."""
    metadata = manifest.get("metadata") or {}
    namespace = metadata.get("namespace")
    name = metadata.get("name", "?")
    where = f"{namespace}/{name}" if namespace else str(name)
    return f"{manifest.get('kind', '?')} {where}"
