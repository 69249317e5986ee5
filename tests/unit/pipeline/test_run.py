"""A run's own decisions, with stand-ins for the engine's answers: the started k3s is the one
bound, diagnostics never bind a k3s that stopped, and the summary carries the disk use and
the Docker Hub note but no credential."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import anyio
import dagger
import pytest
from dagger import dag

from pipeline import containers, report, run
from pipeline.disk_usage import DiskUsage, Filesystem
from pipeline.registry_login import LoginDecision, RegistryLogin
from pipeline.stages import Outcome, StageResult

TOKEN = "made-up-for-the-test-" + "z" * 6


def pipeline_run(tmp_path: Path, decision: LoginDecision | None = None) -> run.PipelineRun:
    options = run.Options(
        out=tmp_path,
        publish=False,
        pull_cache=True,
        until=None,
        docker_hub=decision or LoginDecision(None, "anonymous: no login given"),
    )
    return run.PipelineRun(
        options=options,
        run_id="20260101T120000-a1b2c3",
        revision="0123abc",
        k3s_image="docker.io/rancher/k3s:v1.33.5-k3s1",
        cluster_references={},
        source=dag.directory(),
    )


class StartedService:
    """Stands in for what `Service.start()` returns: another object than the one started."""


class ServiceToStart:
    def __init__(self) -> None:
        self.started = StartedService()

    async def start(self) -> StartedService:
        return self.started


def test_the_service_start_returns_is_the_one_kept(tmp_path: Path) -> None:
    pipeline = pipeline_run(tmp_path)
    service = ServiceToStart()
    anyio.run(pipeline._start_cluster, service)  # type: ignore[arg-type]
    kept: object = pipeline.cluster
    assert kept is service.started  # bound by deploy, verify and stop from here


class Probe:
    def __init__(self, output: str | Exception) -> None:
        self.output = output

    async def stdout(self) -> str:
        if isinstance(self.output, Exception):
            raise self.output
        return self.output


def why_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, probe_output: str | Exception
) -> str | None:
    pipeline = pipeline_run(tmp_path)
    pipeline.tools = dag.container()
    pipeline.cluster = dag.container().as_service()
    pipeline.kubeconfig = dag.set_secret("kubeconfig", "placeholder")
    probed: list[str] = []

    def probe(tools: Any, run_id: str, nonce: str) -> Probe:
        probed.append(run_id)
        return Probe(probe_output)

    monkeypatch.setattr(containers, "k3s_liveness_probe", probe)
    answer = anyio.run(pipeline._why_not_query_cluster)
    assert probed == [pipeline.run_id]
    return answer


def test_a_running_k3s_is_queried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    now = int(time.time())
    assert why_not(tmp_path, monkeypatch, f"now={now}\nheartbeat={now - 4}\nexited=\n") is None


def test_a_stopped_k3s_is_not_bound_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert why_not(tmp_path, monkeypatch, "now=500\nheartbeat=490\nexited=1\n") == (
        "k3s exited with status 1"
    )
    assert why_not(tmp_path, monkeypatch, "now=500\nheartbeat=400\nexited=\n") == (
        "k3s's last heartbeat is 100 s old"
    )


def test_an_unreadable_heartbeat_counts_as_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    error = dagger.ClientConnectionError("the engine went away")
    assert why_not(tmp_path, monkeypatch, error) == (
        "k3s's heartbeat could not be read (Failed to establish client connection to the "
        "Dagger session: the engine went away)"
    )


def test_without_a_started_k3s_or_its_kubeconfig_nothing_is_probed(tmp_path: Path) -> None:
    pipeline = pipeline_run(tmp_path)
    assert anyio.run(pipeline._why_not_query_cluster) == "k3s did not start"
    pipeline.cluster = dag.container().as_service()
    assert anyio.run(pipeline._why_not_query_cluster) == "k3s wrote no kubeconfig"


USAGE = DiskUsage(
    engine_cache_bytes=5_000_000_000,
    engine_cache_entries=812,
    volumes={"pipeline-pip": 120_000_000},
    filesystem=Filesystem(100_000_000_000, 40_000_000_000, 60_000_000_000),
)
RESULTS = [
    StageResult("build-images", Outcome.PASSED, 133.2, "gateway, litellm, provider-emulator"),
    StageResult("verify", Outcome.SKIPPED, 0.0, "deploy did not pass"),
]


def test_the_summary_has_the_disk_use_after_each_stage_and_no_credential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    login = RegistryLogin("ci-bot", TOKEN, "DOCKERHUB_USERNAME and DOCKERHUB_TOKEN")
    decision = LoginDecision(login, "the login from DOCKERHUB_USERNAME and DOCKERHUB_TOKEN")
    pipeline = pipeline_run(tmp_path, decision)
    pipeline.disk_before = DiskUsage(engine_cache_bytes=1_000)
    pipeline.disk["build-images"] = USAGE
    step_summary = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    report.write_reports(pipeline, RESULTS, 140.0)

    text = (pipeline.run_dir / "summary.json").read_text()
    summary = json.loads(text)
    assert summary["docker_hub"] == "the login from DOCKERHUB_USERNAME and DOCKERHUB_TOKEN"
    assert summary["disk_before"]["engine_cache_bytes"] == 1_000
    stages = {stage["stage"]: stage for stage in summary["stages"]}
    assert stages["build-images"]["disk"] == {
        "engine_cache_bytes": 5_000_000_000,
        "engine_cache_entries": 812,
        "volumes": {"pipeline-pip": 120_000_000},
        "filesystem": {
            "size_bytes": 100_000_000_000,
            "used_bytes": 40_000_000_000,
            "available_bytes": 60_000_000_000,
        },
        "problems": [],
    }
    assert stages["verify"]["disk"] is None  # skipped: not measured
    assert TOKEN not in text
    assert "ci-bot" not in text

    job_summary = step_summary.read_text()
    assert "### Disk use" in job_summary
    assert "| build-images | 5.0 GB | 120 MB | 60.0 GB |" in job_summary
    assert TOKEN not in job_summary
