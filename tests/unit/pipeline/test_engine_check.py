"""Without a container engine, the pipeline says so in one sentence within seconds, exit 2.

The decision is tested on fixed inputs; then `python -m pipeline` and its `--preflight` (what
`invoke ci` asks first) run for real with a PATH that holds no runtime, and with a `docker`
whose daemon does not answer.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline import engine_check
from pipeline.engine_check import Probe, engine_problem, no_engine_message

REPO_ROOT = Path(__file__).resolve().parents[3]


def which_only(*present: str) -> Callable[[str], str | None]:
    return lambda cli: f"/usr/bin/{cli}" if cli in present else None


def probes(**results: Probe) -> Callable[[str], Probe]:
    def probe(cli: str) -> Probe:
        return results[cli]

    return probe


def test_inside_dagger_run_the_session_is_the_engine() -> None:
    env = {"DAGGER_SESSION_PORT": "1234", "DAGGER_SESSION_TOKEN": "t"}
    assert engine_problem(env, which_only(), probes()) is None


def test_a_runner_the_user_chose_is_left_to_dagger() -> None:
    env = {"_EXPERIMENTAL_DAGGER_RUNNER_HOST": "tcp://engine:1234"}
    assert engine_problem(env, which_only(), probes()) is None


def test_no_runtime_installed() -> None:
    assert engine_problem({}, which_only(), probes()) == (
        "no container runtime is installed: none of docker, podman, nerdctl, finch"
    )


def test_a_runtime_that_answers_is_enough() -> None:
    result = engine_problem(
        {},
        which_only("docker", "podman"),
        probes(docker=Probe(False, "Cannot connect to the Docker daemon"), podman=Probe(True)),
    )
    assert result is None


def test_every_runtime_that_fails_is_named() -> None:
    result = engine_problem(
        {},
        which_only("docker", "nerdctl"),
        probes(docker=Probe(False, "Cannot connect"), nerdctl=Probe(False)),
    )
    assert result == "docker info: Cannot connect; nerdctl info failed"


def test_the_message_is_one_sentence_naming_what_still_runs() -> None:
    message = no_engine_message("docker info: Cannot connect.")
    assert message == (
        "No container engine is reachable (docker info: Cannot connect), so the pipeline "
        "cannot run here; `invoke test` runs every check that needs none."
    )
    assert "\n" not in message


def fake_cli(directory: Path, name: str, script: str) -> None:
    path = directory / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def test_probing_a_real_cli_reports_its_last_error_line(tmp_path: Path) -> None:
    fake_cli(
        tmp_path, "docker", 'echo "Client: ok"; echo "first" >&2; echo "daemon down" >&2; exit 1'
    )
    assert engine_check.probe_runtime(str(tmp_path / "docker")) == Probe(False, "daemon down")
    fake_cli(tmp_path, "podman", "exit 0")
    assert engine_check.probe_runtime(str(tmp_path / "podman")) == Probe(True)


def test_a_daemon_that_never_answers_counts_as_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_check, "INFO_TIMEOUT_S", 0.5)
    fake_cli(tmp_path, "docker", "exec sleep 30")
    assert engine_check.probe_runtime(str(tmp_path / "docker")) == Probe(
        False, "no answer within 0.5 s"
    )


def no_engine_env(path: Path) -> dict[str, str]:
    """This machine's environment minus anything that names an engine, with PATH = path."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DAGGER_", "_EXPERIMENTAL_DAGGER", "DOCKER_"))
    }
    env["PATH"] = str(path)
    return env


def run_without_engine(
    argv: list[str], path: Path
) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run(
        argv,
        cwd=REPO_ROOT,
        env=no_engine_env(path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result, time.monotonic() - started


@pytest.mark.parametrize(
    ("docker_script", "reason"),
    [
        (None, "no container runtime is installed: none of docker, podman, nerdctl, finch"),
        (
            'echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." >&2\n'
            "exit 1",
            "docker info: Cannot connect to the Docker daemon at unix:///var/run/docker.sock",
        ),
    ],
    ids=["no-runtime", "daemon-down"],
)
@pytest.mark.parametrize(
    "command",
    # `invoke ci` asks `nox -s pipeline -- --preflight` (tasks.py), which answers this way.
    [[sys.executable, "-m", "pipeline"], [sys.executable, "-m", "pipeline", "--preflight"]],
    ids=["python-m-pipeline", "preflight"],
)
def test_without_an_engine_one_sentence_within_seconds_and_exit_2(
    tmp_path: Path, command: list[str], docker_script: str | None, reason: str
) -> None:
    if docker_script is not None:
        fake_cli(tmp_path, "docker", docker_script)
    result, seconds = run_without_engine(command, tmp_path)
    assert result.returncode == 2, result.stderr
    assert seconds < 10
    assert result.stdout == ""
    assert result.stderr.strip() == no_engine_message(reason)
    assert "Traceback" not in result.stderr
