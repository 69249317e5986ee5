"""Helm 4 against the cluster: the argv from helm_commands, run by the existing Helm class
(private Helm home, output in the error on failure)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from platform_deploy.config.deploy_settings import DeploySettings
from platform_deploy.config.environments import Release
from platform_deploy.helm.client import Helm
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


class HelmPort(Protocol):
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


class HelmRunner:
    def __init__(self, helm: Callable[[], Helm], target: KubeTarget) -> None:
        # Found on first use: the identity guard runs (and can refuse) before Helm is needed.
        self._make_helm = helm
        self._found: Helm | None = None
        self._target = target

    @property
    def _helm(self) -> Helm:
        if self._found is None:
            self._found = self._make_helm()
        return self._found

    def state(self, release: Release) -> ReleaseState | None:
        rows = parse_list(self._helm.run(*list_argv(release, self._target), timeout=60))
        return rows[0] if rows else None

    def deployed_values(self, release: Release) -> dict[str, Any]:
        out = self._helm.run(*get_values_argv(release, self._target), timeout=60)
        values = json.loads(out or "null")
        return dict(values) if isinstance(values, dict) else {}

    def deployed_manifest(self, release: Release) -> str:
        return self._helm.run(*get_manifest_argv(release, self._target), timeout=60)

    def dry_run(
        self,
        action: Literal["install", "upgrade"],
        release: Release,
        source: ChartSource,
        values: Sequence[Path],
    ) -> str:
        """The manifest Helm would apply, rendered by the server (lookups resolved), with
        Secret data hidden."""
        out = self._helm.run(
            *dry_run_argv(action, release, source, values, self._target), timeout=300
        )
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
        self._helm.run(*argv, timeout=settings.timeout_s(release.name) + _PROCESS_MARGIN_S)
