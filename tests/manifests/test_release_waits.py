"""Every release's wait lasts as long as its environment's timeout says.

`--wait=watcher` follows kstatus: a Deployment whose progressDeadlineSeconds (default 600 s)
passes without progress is Failed, and Helm 4.1.4's status waiter stops on Failed
(pkg/kube/statuswait.go), so a watcher wait really ends at min(timeout, deadline). A release
whose timeout is longer than one of its Deployments' deadlines therefore waits with
`--wait=legacy` (environments.yaml `waits:`), which polls readiness up to --timeout.

Checked on the command line the engine passes to Helm and on what the release renders: this
repository's charts rendered by the locked Helm; the Langfuse chart rendered where it can be
had, else the reference inventory of its render (chart 1.5.41's templates, and its Bitnami
MinIO subchart's, set no progressDeadlineSeconds: every Deployment has the default).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from platform_deploy.checks.langfuse_chart import Reference
from platform_deploy.config.deploy_settings import (
    DEFAULT_PROGRESS_DEADLINE_S,
    parse_duration,
)
from platform_deploy.config.environments import EnvironmentName, Release
from platform_deploy.config.versions import Versions
from platform_deploy.helm.releases import KubeTarget, apply_argv, chart_source
from platform_deploy.rendering import EnvironmentRender


def _deadlines(manifests: Iterable[dict[str, Any]]) -> dict[str, int]:
    return {
        str(m["metadata"]["name"]): int(
            (m.get("spec") or {}).get("progressDeadlineSeconds", DEFAULT_PROGRESS_DEADLINE_S)
        )
        for m in manifests
        if m.get("kind") == "Deployment"
    }


def _inventory_deadlines(reference: Reference) -> dict[str, int]:
    return {
        str(entry["name"]): int(entry.get("progressDeadlineSeconds", DEFAULT_PROGRESS_DEADLINE_S))
        for entry in reference.inventory()
        if entry.get("kind") == "Deployment"
    }


def _release_deadlines(
    render: EnvironmentRender, release: Release, reference: Reference
) -> dict[str, int]:
    if release.name in render.releases:
        return _deadlines(render.releases[release.name])
    if render.langfuse is not None:
        return _deadlines(render.langfuse)
    return _inventory_deadlines(reference)


def _wait_and_timeout(argv: list[str]) -> tuple[str, int]:
    waits = [arg.removeprefix("--wait=") for arg in argv if arg.startswith("--wait=")]
    assert len(waits) == 1, argv
    return waits[0], parse_duration(argv[argv.index("--timeout") + 1])


def test_a_watcher_wait_ends_only_at_the_release_timeout(
    rendered: dict[EnvironmentName, EnvironmentRender],
    reference: Reference,
    versions: Versions,
    environment: EnvironmentName,
) -> None:
    render = rendered[environment]
    settings = render.environment.deploy
    langfuse_deadlines: dict[str, int] = {}
    for release in render.environment.releases:
        for action in ("install", "upgrade"):
            argv = apply_argv(
                "install" if action == "install" else "upgrade",
                release,
                chart_source(release, versions),
                release.values,
                settings,
                KubeTarget(),
            )
            wait, timeout = _wait_and_timeout(argv)
            deadlines = _release_deadlines(render, release, reference)
            if release.name == "langfuse":
                langfuse_deadlines = deadlines
            if wait == "watcher":
                cut_short = {name: s for name, s in deadlines.items() if s < timeout}
                assert not cut_short, (
                    f"{environment}/{release.name}: --wait=watcher would give up when these "
                    f"Deployments' progress deadlines pass, before the {timeout} s timeout: "
                    f"{cut_short}; wait with legacy (environments.yaml waits:) or raise them"
                )
            else:
                assert wait == "legacy", argv
    # Not vacuous: the Langfuse release has Deployments, each with the default deadline.
    assert langfuse_deadlines
    assert set(langfuse_deadlines.values()) == {DEFAULT_PROGRESS_DEADLINE_S}
    assert settings.timeout_s("langfuse") > DEFAULT_PROGRESS_DEADLINE_S
