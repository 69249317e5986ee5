"""The real Helm 4 binary accepts every command line the engine builds.

Helm parses its flags before it contacts a cluster, so against a kubeconfig whose API server
refuses connections, an argv Helm does not know fails with "unknown flag" and one it knows
fails with "cluster unreachable". The binary is the project's one Helm,
platform_deploy.helm.binary.locked_helm(); where the helm lock is not installed this skips,
saying so.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Literal

import pytest

from platform_deploy.config.deploy_settings import DeploySettings
from platform_deploy.config.environments import Environment, EnvironmentName
from platform_deploy.config.versions import Versions
from platform_deploy.helm.binary import ToolUnavailable, locked_helm
from platform_deploy.helm.releases import (
    ChartSource,
    KubeTarget,
    ReleaseState,
    apply_argv,
    chart_source,
    dry_run_argv,
    get_manifest_argv,
    get_values_argv,
    list_argv,
    rollback_argv,
)

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: closed, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: nobody, user: {}}]
contexts: [{name: closed, context: {cluster: closed, user: nobody}}]
current-context: closed
"""


@pytest.fixture(scope="module")
def helm() -> Path:
    try:
        return locked_helm()
    except ToolUnavailable as error:
        pytest.skip(str(error))


def _run(helm: Path, argv: list[str], home: Path) -> str:
    env = {**os.environ, **{f"HELM_{d}_HOME": str(home / d) for d in ("CACHE", "CONFIG", "DATA")}}
    result = subprocess.run(
        [str(helm), *argv], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    return result.stderr + result.stdout


def test_every_argv_parses(
    helm: Path,
    tmp_path: Path,
    environments: dict[EnvironmentName, Environment],
    settings: dict[EnvironmentName, DeploySettings],
    versions: Versions,
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG, encoding="utf-8")
    target = KubeTarget(kubeconfig, "closed")
    argvs: list[list[str]] = []
    # A repository chart (Langfuse) would be downloaded before the cluster is reached: a
    # local chart stands in for it, its release's own flags (its wait among them) unchanged.
    stand_in = ChartSource(str(environments["ci"].release("redis").local_chart))
    for name, environment in environments.items():
        for release in environment.releases:
            source = chart_source(release, versions) if release.local_chart else stand_in
            verbs: tuple[Literal["install", "upgrade"], ...] = ("install", "upgrade")
            for verb in verbs:
                argvs.append(
                    apply_argv(verb, release, source, release.values, settings[name], target)
                )
                argvs.append(dry_run_argv(verb, release, source, release.values, target))
            argvs += [
                list_argv(release, target),
                get_values_argv(release, target),
                get_manifest_argv(release, target),
            ]
            state = ReleaseState(release.name, release.namespace, 2, "deployed", "x-1")
            argvs.append(rollback_argv(state, settings[name], target))
    assert any("--rollback-on-failure" in argv for argv in argvs)
    assert {"--wait=watcher", "--wait=legacy"} <= {arg for argv in argvs for arg in argv}
    for argv in argvs:
        output = _run(helm, argv, tmp_path)
        assert "unknown flag" not in output, (argv, output)
        assert "unreachable" in output or "connection refused" in output, (argv, output)
