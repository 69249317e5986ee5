"""The commands run against the test cluster, and the diagnostics collected after a failure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from pipeline import collect_diagnostics
from pipeline.cluster_commands import (
    CLUSTER_DIAGNOSTICS,
    PODS_JSON,
    RELEASES_JSON,
    Diagnostic,
    deploy_command,
    helm_status_diagnostics,
    pod_log_diagnostics,
    verify_command,
)
from pipeline.collect_diagnostics import Ran, collect

PODS = {
    "items": [
        {
            "metadata": {"namespace": "default", "name": "gateway-7d9f"},
            "spec": {"containers": [{"name": "gateway"}]},
        },
        {
            "metadata": {"namespace": "langfuse", "name": "langfuse-web-0"},
            "spec": {
                "initContainers": [{"name": "wait-for-db"}],
                "containers": [{"name": "langfuse-web"}],
            },
        },
    ]
}
RELEASES = [
    {"name": "platform", "namespace": "default", "status": "failed"},
    {"name": "langfuse", "namespace": "langfuse", "status": "deployed"},
]


def test_deploy_and_verify_are_the_deploy_engines_commands() -> None:
    assert deploy_command("/run/kubeconfig") == [
        "python",
        "-m",
        "platform_deploy",
        "deploy",
        "--env",
        "ci",
        "--kubeconfig",
        "/run/kubeconfig",
        "--yes",
        "--no-verify",
    ]
    assert verify_command("/run/kubeconfig") == [
        "python",
        "-m",
        "platform_deploy",
        "verify",
        "--env",
        "ci",
        "--kubeconfig",
        "/run/kubeconfig",
    ]


def test_the_cluster_wide_views_are_the_documented_ones() -> None:
    argvs = {diagnostic.argv for diagnostic in CLUSTER_DIAGNOSTICS}
    assert ("kubectl", "get", "pods", "-A", "-o", "wide") in argvs
    assert ("kubectl", "get", "events", "-A", "--sort-by=.lastTimestamp") in argvs
    assert (
        "helm",
        "list",
        "-A",
        "--deployed",
        "--failed",
        "--pending",
        "--uninstalling",
        "--superseded",
    ) in argvs
    assert len({diagnostic.file for diagnostic in CLUSTER_DIAGNOSTICS}) == len(CLUSTER_DIAGNOSTICS)


def test_every_container_of_every_pod_has_its_logs_current_and_previous() -> None:
    files = {d.file: d.argv for d in pod_log_diagnostics(PODS)}
    assert files == {
        "logs/default/gateway-7d9f.gateway.log": (
            "kubectl", "logs", "-n", "default", "gateway-7d9f", "-c", "gateway", "--timestamps"
        ),
        "logs/default/gateway-7d9f.gateway.previous.log": (
            "kubectl", "logs", "-n", "default", "gateway-7d9f", "-c", "gateway",
            "--previous", "--timestamps",
        ),
        "logs/langfuse/langfuse-web-0.wait-for-db.log": (
            "kubectl", "logs", "-n", "langfuse", "langfuse-web-0", "-c", "wait-for-db",
            "--timestamps",
        ),
        "logs/langfuse/langfuse-web-0.wait-for-db.previous.log": (
            "kubectl", "logs", "-n", "langfuse", "langfuse-web-0", "-c", "wait-for-db",
            "--previous", "--timestamps",
        ),
        "logs/langfuse/langfuse-web-0.langfuse-web.log": (
            "kubectl", "logs", "-n", "langfuse", "langfuse-web-0", "-c", "langfuse-web",
            "--timestamps",
        ),
        "logs/langfuse/langfuse-web-0.langfuse-web.previous.log": (
            "kubectl", "logs", "-n", "langfuse", "langfuse-web-0", "-c", "langfuse-web",
            "--previous", "--timestamps",
        ),
    }  # fmt: skip


def test_every_release_has_its_helm_status() -> None:
    assert helm_status_diagnostics(RELEASES) == [
        Diagnostic("helm/default.platform.txt", ("helm", "status", "platform", "-n", "default")),
        Diagnostic("helm/langfuse.langfuse.txt", ("helm", "status", "langfuse", "-n", "langfuse")),
    ]


class FakeCluster:
    """Answers the listings with fixed JSON; one pod's previous logs do not exist."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, ...]] = []

    def __call__(self, argv: Sequence[str]) -> Ran:
        command = tuple(argv)
        self.ran.append(command)
        if command == PODS_JSON:
            return Ran(0, json.dumps(PODS), "")
        if command == RELEASES_JSON:
            return Ran(0, json.dumps(RELEASES), "")
        if "--previous" in command and "gateway" in command:
            return Ran(1, "", 'previous terminated container "gateway" not found')
        return Ran(0, f"output of {' '.join(command)}\n", "")


def test_collecting_writes_every_file_and_records_failures(tmp_path: Path) -> None:
    k3s_log = tmp_path / "k3s.log"
    k3s_log.write_text("".join(f"line {i}\n" for i in range(5000)))
    out = tmp_path / "diagnostics"
    cluster = FakeCluster()
    index = collect(out, cluster, k3s_log)

    assert (out / "pods.txt").read_text() == "output of kubectl get pods -A -o wide\n"
    previous = (out / "logs/default/gateway-7d9f.gateway.previous.log").read_text()
    assert "exit status 1" in previous
    assert 'previous terminated container "gateway" not found' in previous
    assert (out / "helm/default.platform.txt").is_file()
    tail = (out / "k3s-server.log").read_text().splitlines()
    assert tail[0] == "line 2000"
    assert tail[-1] == "line 4999"
    assert len(index) == len(CLUSTER_DIAGNOSTICS) + 6 + 2 + 1
    assert (out / "index.txt").read_text().count("\n") == len(index)


def test_without_a_cluster_only_k3s_log_is_collected(tmp_path: Path) -> None:
    out = tmp_path / "diagnostics"
    out.mkdir()
    cluster = FakeCluster()
    index = collect(out, cluster, tmp_path / "missing.log", no_cluster="k3s did not start")
    assert cluster.ran == []
    assert index == [
        "cluster\tnot queried: k3s did not start",
        f"k3s-server.log\tmissing: k3s wrote no {tmp_path / 'missing.log'}",
    ]


def test_a_stopped_k3s_is_not_asked_and_its_log_survives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the pipeline runs the collector after k3s stopped: its command line, and only the
    server log, which is on the config volume that outlives the k3s container."""
    (tmp_path / "k3s.log").write_text('level=fatal msg="etcd: out of space"\n')
    out = tmp_path / "diagnostics"
    cluster = FakeCluster()
    monkeypatch.setattr(collect_diagnostics, "run_command", cluster)
    argv = ["--out", str(out), "--k3s-log", str(tmp_path / "k3s.log")]
    assert collect_diagnostics.main([*argv, "--no-cluster", "k3s exited with status 1"]) == 0
    assert cluster.ran == []
    index = (out / "index.txt").read_text().splitlines()
    assert index[0] == "cluster\tnot queried: k3s exited with status 1"
    assert len(index) == 2
    assert "out of space" in (out / "k3s-server.log").read_text()


def test_a_cluster_that_does_not_answer_still_gives_the_cluster_wide_files(
    tmp_path: Path,
) -> None:
    out = tmp_path / "diagnostics"

    def unreachable(argv: Sequence[str]) -> Ran:
        return Ran(1, "", "The connection to the server k3s:6443 was refused")

    index = collect(out, unreachable, None)
    assert len(index) == len(CLUSTER_DIAGNOSTICS)
    assert "was refused" in (out / "events.txt").read_text()
