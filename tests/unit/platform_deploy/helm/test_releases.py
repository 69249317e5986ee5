"""Helm 4 argv for each environment, and the install/upgrade/unchanged/stop decision over
recorded `helm list -o json` answers."""

from __future__ import annotations

from pathlib import Path

from platform_deploy.config.deploy_settings import DeploySettings
from platform_deploy.config.environments import Environment, EnvironmentName
from platform_deploy.config.versions import Versions
from platform_deploy.helm.releases import (
    KubeTarget,
    ReleaseState,
    apply_argv,
    chart_source,
    decide_release,
    dry_run_argv,
    list_argv,
    parse_list,
    rollback_argv,
)

RECORDED = Path(__file__).parents[1] / "engine" / "recorded"
TARGET = KubeTarget(Path("/home/operator/.kube/prod"), "prod-admin")


def _flag(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def _values(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == "--values"]


def test_langfuse_chart_is_pinned_from_its_repository(
    environments: dict[EnvironmentName, Environment],
    settings: dict[EnvironmentName, DeploySettings],
    versions: Versions,
) -> None:
    for name in ("ci", "prod"):
        release = environments[name].release("langfuse")
        argv = apply_argv(
            "install",
            release,
            chart_source(release, versions),
            release.values,
            settings[name],
            TARGET,
        )
        assert argv[:3] == ["install", "langfuse", "langfuse"]
        assert _flag(argv, "--repo") == "https://langfuse.github.io/langfuse-k8s"
        assert _flag(argv, "--version") == versions.chart("langfuse").version == "1.5.41"
        assert _flag(argv, "--namespace") == "langfuse"
        # The watcher would stop at the Deployments' 600 s progress deadline (Failed).
        assert "--wait=legacy" in argv
        assert "--wait=watcher" not in argv
        assert _flag(argv, "--timeout") == "20m0s"
        assert _values(argv) == [str(path) for path in release.values]
        assert _values(argv)[0].endswith("langfuse/values.yaml")
        assert _values(argv)[1].endswith(f"langfuse/{name}.yaml")
        assert (_flag(argv, "--kubeconfig"), _flag(argv, "--kube-context")) == (
            "/home/operator/.kube/prod",
            "prod-admin",
        )


def test_rollback_on_failure_only_on_upgrades_where_the_environment_says(
    environments: dict[EnvironmentName, Environment],
    settings: dict[EnvironmentName, DeploySettings],
    versions: Versions,
) -> None:
    def argv(env: EnvironmentName, action: str) -> list[str]:
        release = environments[env].release("platform")
        source = chart_source(release, versions)
        assert action in ("install", "upgrade")
        return apply_argv(
            "install" if action == "install" else "upgrade",
            release,
            source,
            release.values,
            settings[env],
            KubeTarget(),
        )

    assert "--rollback-on-failure" in argv("prod", "upgrade")
    assert "--rollback-on-failure" not in argv("prod", "install")
    # A failed first install in the test cluster keeps its pods for their logs.
    assert "--rollback-on-failure" not in argv("ci", "install")
    assert "--rollback-on-failure" not in argv("ci", "upgrade")
    assert "--kubeconfig" not in argv("ci", "install")


def test_local_charts_are_directories_and_carry_no_version(
    environments: dict[EnvironmentName, Environment], versions: Versions
) -> None:
    release = environments["ci"].release("redis")
    source = chart_source(release, versions)
    assert source.args() == [str(release.local_chart)]


def test_every_plan_dry_run_is_server_side_and_hides_secrets(
    environments: dict[EnvironmentName, Environment], versions: Versions
) -> None:
    for environment in environments.values():
        for release in environment.releases:
            for action in ("install", "upgrade"):
                argv = dry_run_argv(
                    "install" if action == "install" else "upgrade",
                    release,
                    chart_source(release, versions),
                    release.values,
                    TARGET,
                )
                assert "--dry-run=server" in argv
                assert "--hide-secret" in argv
                assert not any(arg.startswith("--wait") for arg in argv)


def test_each_release_waits_as_its_environment_says(
    environments: dict[EnvironmentName, Environment],
    settings: dict[EnvironmentName, DeploySettings],
    versions: Versions,
) -> None:
    waits = {}
    for name, environment in environments.items():
        for release in environment.releases:
            argv = apply_argv(
                "upgrade",
                release,
                chart_source(release, versions),
                release.values,
                settings[name],
                KubeTarget(),
            )
            state = ReleaseState(release.name, release.namespace, 3, "deployed", "x-1")
            rollback = rollback_argv(state, settings[name], KubeTarget())
            flags = {arg for arg in argv + rollback if arg.startswith("--wait")}
            assert len(flags) == 1, flags  # the upgrade and its rollback wait alike
            waits[(name, release.name)] = (flags.pop(), _flag(argv, "--timeout"))
    assert waits == {
        ("ci", "redis"): ("--wait=watcher", "3m0s"),
        ("ci", "langfuse"): ("--wait=legacy", "20m0s"),
        ("ci", "platform"): ("--wait=watcher", "5m0s"),
        ("prod", "langfuse"): ("--wait=legacy", "20m0s"),
        ("prod", "platform"): ("--wait=watcher", "10m0s"),
    }


def test_list_and_rollback_argv(
    environments: dict[EnvironmentName, Environment],
    settings: dict[EnvironmentName, DeploySettings],
) -> None:
    release = environments["prod"].release("langfuse")
    assert list_argv(release, KubeTarget()) == [
        "list",
        "--namespace",
        "langfuse",
        "--deployed",
        "--failed",
        "--pending",
        "--uninstalling",
        "--filter",
        "^langfuse$",
        "--output",
        "json",
    ]
    state = parse_list((RECORDED / "helm_list_langfuse_deployed.json").read_text())[0]
    assert rollback_argv(state, settings["prod"], KubeTarget())[:5] == [
        "rollback",
        "langfuse",
        "7",
        "--namespace",
        "langfuse",
    ]


def test_decisions_over_recorded_helm_answers() -> None:
    deployed = parse_list((RECORDED / "helm_list_langfuse_deployed.json").read_text())[0]
    assert deployed == ReleaseState("langfuse", "langfuse", 7, "deployed", "langfuse-1.2.17")
    assert decide_release(None, "langfuse-1.5.41", {}, None, None).action == "install"
    upgrade = decide_release(deployed, "langfuse-1.5.41", {}, {}, True)
    assert (upgrade.action, upgrade.reason) == (
        "upgrade",
        "chart langfuse-1.2.17 -> langfuse-1.5.41",
    )
    values = {"langfuse": {"replicas": 2}}
    same = decide_release(deployed, "langfuse-1.2.17", values, values, True)
    assert same.action == "unchanged"
    assert decide_release(deployed, "langfuse-1.2.17", values, {}, True).action == "upgrade"
    assert decide_release(deployed, None, values, values, False).action == "upgrade"
    # Unknown manifests never count as equal.
    assert decide_release(deployed, None, values, values, None).action == "upgrade"
    pending = parse_list((RECORDED / "helm_list_pending.json").read_text())[0]
    stop = decide_release(pending, None, {}, {}, True)
    assert stop.action == "stop"
    assert "pending-upgrade" in stop.reason
    failed_first = ReleaseState("langfuse", "langfuse", 1, "failed", "langfuse-1.5.41")
    assert decide_release(failed_first, "langfuse-1.5.41", {}, {}, True).action == "stop"
    failed_upgrade = ReleaseState("langfuse", "langfuse", 3, "failed", "langfuse-1.5.41")
    assert decide_release(failed_upgrade, "langfuse-1.5.41", {}, {}, True).action == "upgrade"
    assert parse_list("[]") == []
    assert parse_list("") == []
