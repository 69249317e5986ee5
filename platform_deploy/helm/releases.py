"""Helm 4 command lines, what Helm's JSON answers mean, and what to do with each release.

Pure: building argv and deciding install/upgrade/unchanged/stop from `helm list -o json`,
`helm get values -o json` and the manifests. client.py runs them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from platform_deploy.config.deploy_settings import DeploySettings
from platform_deploy.config.durations import helm_duration
from platform_deploy.config.environments import Release
from platform_deploy.config.files import REPO_ROOT, parse_manifests
from platform_deploy.config.versions import Versions

ReleaseAction = Literal["install", "upgrade", "unchanged", "stop"]
# A release in one of these states is half-finished: another Helm is working on it, or one
# died mid-way. Neither an upgrade nor an install may start on top of it.
PENDING_STATES = frozenset(
    {"pending-install", "pending-upgrade", "pending-rollback", "uninstalling"}
)


@dataclass(frozen=True)
class KubeTarget:
    """Which cluster Helm talks to: the same kubeconfig and context as the client."""

    kubeconfig: Path | None = None
    context: str | None = None

    def args(self) -> list[str]:
        args = ["--kubeconfig", str(self.kubeconfig)] if self.kubeconfig else []
        return args + (["--kube-context", self.context] if self.context else [])


@dataclass(frozen=True)
class ChartSource:
    """The chart argument: a directory of this repository, or a pinned chart of a repo."""

    chart: str
    version: str | None = None
    repository: str | None = None

    def args(self) -> list[str]:
        if self.repository is None:
            return [self.chart]
        return [self.chart, "--repo", self.repository, "--version", str(self.version)]


def chart_source(release: Release, versions: Versions) -> ChartSource:
    if release.local_chart is not None:
        return ChartSource(str(release.local_chart))
    pin = versions.chart(release.chart)
    return ChartSource(release.chart, pin.version, pin.repository)


@dataclass(frozen=True)
class ReleaseState:
    """One row of `helm list -o json`."""

    name: str
    namespace: str
    revision: int
    status: str
    chart: str  # "<name>-<version>"


def parse_list(text: str) -> list[ReleaseState]:
    rows = json.loads(text or "[]") or []
    return [
        ReleaseState(
            name=str(row["name"]),
            namespace=str(row["namespace"]),
            revision=int(row["revision"]),
            status=str(row["status"]),
            chart=str(row["chart"]),
        )
        for row in rows
    ]


# Helm 4's list has no --all: these name every state a release can be in now, so that
# pending and failed releases (exactly the ones to stop on) are listed too.
CURRENT_STATES = ("--deployed", "--failed", "--pending", "--uninstalling")


def list_argv(release: Release, target: KubeTarget) -> list[str]:
    return [
        "list",
        "--namespace",
        release.namespace,
        *CURRENT_STATES,
        "--filter",
        f"^{release.name}$",
        "--output",
        "json",
        *target.args(),
    ]


def get_values_argv(release: Release, target: KubeTarget) -> list[str]:
    return [
        "get",
        "values",
        release.name,
        "--namespace",
        release.namespace,
        "-o",
        "json",
        *target.args(),
    ]


def get_manifest_argv(release: Release, target: KubeTarget) -> list[str]:
    return ["get", "manifest", release.name, "--namespace", release.namespace, *target.args()]


def _common(
    release: Release, source: ChartSource, values: Sequence[Path], target: KubeTarget
) -> list[str]:
    args = [release.name, *source.args(), "--namespace", release.namespace]
    for values_file in values:  # in order: a later file overrides an earlier one
        args += ["--values", str(values_file)]
    return args + target.args()


def _wait_flag(settings: DeploySettings, release: str) -> str:
    return f"--wait={settings.wait(release)}"


def apply_argv(
    action: Literal["install", "upgrade"],
    release: Release,
    source: ChartSource,
    values: Sequence[Path],
    settings: DeploySettings,
    target: KubeTarget,
) -> list[str]:
    """`helm install|upgrade` that returns only when every resource is really ready, or
    fails once the release's timeout has passed (the wait the environment names for it)."""
    argv = [action, *_common(release, source, values, target)]
    argv += [_wait_flag(settings, release.name)]
    argv += ["--timeout", helm_duration(settings.timeout_s(release.name))]
    # Only an upgrade rolls back: a failed first install keeps its pods for their logs.
    if action == "upgrade" and settings.rollback_on_failure:
        argv.append("--rollback-on-failure")
    return argv


def dry_run_argv(
    action: Literal["install", "upgrade"],
    release: Release,
    source: ChartSource,
    values: Sequence[Path],
    target: KubeTarget,
) -> list[str]:
    """The plan's server-side dry run; --hide-secret keeps Secret data out of its output."""
    return [
        action,
        *_common(release, source, values, target),
        "--dry-run=server",
        "--hide-secret",
        "--output",
        "json",
    ]


def rollback_argv(state: ReleaseState, settings: DeploySettings, target: KubeTarget) -> list[str]:
    """What undoes an upgrade: back to the revision running now."""
    return [
        "rollback",
        state.name,
        str(state.revision),
        "--namespace",
        state.namespace,
        _wait_flag(settings, state.name),
        "--timeout",
        helm_duration(settings.timeout_s(state.name)),
        *target.args(),
    ]


def manifest_documents(manifest: str) -> list[dict[str, Any]]:
    """A release manifest's objects without Secrets: --hide-secret removes them from a dry
    run, so both sides of a comparison leave them out."""
    return [doc for doc in parse_manifests(manifest, "manifest") if doc.get("kind") != "Secret"]


@dataclass(frozen=True)
class ReleaseDecision:
    action: ReleaseAction
    reason: str


def decide_release(
    state: ReleaseState | None,
    desired_chart: str | None,
    desired_values: Mapping[str, Any],
    deployed_values: Mapping[str, Any] | None,
    manifests_equal: bool | None,
) -> ReleaseDecision:
    """What to do with one release, from what the cluster holds.

    desired_chart is "<name>-<version>" for a pinned chart (None: a local chart, whose
    content is compared through the manifests). manifests_equal compares the dry run's
    manifest with the deployed one (None: not known, which never counts as equal).
    """
    if state is None:
        return ReleaseDecision("install", "not installed")
    if state.status in PENDING_STATES:
        return ReleaseDecision(
            "stop",
            f"release {state.namespace}/{state.name} is {state.status} "
            f"(revision {state.revision}): "
            "a Helm operation is running or died mid-way; wait for it or "
            f"`helm rollback {state.name} -n {state.namespace}` first",
        )
    if state.status == "failed" and state.revision == 1:
        return ReleaseDecision(
            "stop",
            f"release {state.namespace}/{state.name}'s first install failed; read its pods' logs, "
            f"then `helm uninstall {state.name} -n {state.namespace}` and deploy again",
        )
    if state.status != "deployed":
        return ReleaseDecision("upgrade", f"status {state.status} (revision {state.revision})")
    if desired_chart is not None and desired_chart != state.chart:
        return ReleaseDecision("upgrade", f"chart {state.chart} -> {desired_chart}")
    if dict(deployed_values or {}) != dict(desired_values):
        return ReleaseDecision("upgrade", "values differ")
    if manifests_equal is not True:
        return ReleaseDecision("upgrade", "rendered manifests differ")
    return ReleaseDecision("unchanged", f"revision {state.revision} already matches")


def relative_values(values: Sequence[Path]) -> list[str]:
    return [
        str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)
        for path in values
    ]
