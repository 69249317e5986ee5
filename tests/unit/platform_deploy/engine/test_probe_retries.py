"""The NetworkPolicy probes' retry bound, run for real in a shell over a fake `nc`.

The probe pod runs verification.probe_command with busybox's sh and nc. Here the same
command runs in /bin/sh and, where installed, in busybox's own sh (the probe image's shell),
with `nc` and `sleep` replaced by fakes on PATH: each nc call answers the next exit status
of a script (0 connected, 1 refused) and both record their arguments. What is checked: a
refused "expect open" probe is retried within its bound and passes when a later attempt
connects, fails once the bound is spent; a "closed" probe tries exactly once, so a refusal
passes it and a connection fails it, and it is never retried into a pass.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from platform_deploy.config.deploy_settings import DeploySettings, Probe
from platform_deploy.config.environments import EnvironmentName
from platform_deploy.engine.verification import (
    OPEN_PROBE_ATTEMPTS,
    OPEN_PROBE_PAUSE_S,
    PROBE_CONNECT_TIMEOUT_S,
    probe_check,
    probe_command,
    probe_seconds,
)

FAKE_NC = """#!/bin/sh
count=$(cat "$FAKE_DIR/count" 2>/dev/null || echo 0)
count=$((count + 1))
echo "$count" > "$FAKE_DIR/count"
echo "nc $*" >> "$FAKE_DIR/calls"
status=$(sed -n "${count}p" "$FAKE_DIR/answers")
exit "${status:-1}"
"""
FAKE_SLEEP = """#!/bin/sh
echo "sleep $*" >> "$FAKE_DIR/calls"
"""
# /bin/sh everywhere; busybox's sh (the probe image's) where busybox is installed.
SHELLS = ["sh", "busybox sh"]


@dataclass
class Outcome:
    exit_code: int
    calls: list[str]

    @property
    def connections(self) -> int:
        return sum(call.startswith("nc ") for call in self.calls)

    @property
    def pauses(self) -> list[str]:
        return [call for call in self.calls if call.startswith("sleep ")]


def _probe(expect: Literal["open", "closed"]) -> Probe:
    return Probe("backend-to-redis", {}, "default", "redis.default.svc", 6379, expect)


def _run(shell: str, probe: Probe, answers: list[int], tmp_path: Path) -> Outcome:
    if shell.startswith("busybox") and shutil.which("busybox") is None:
        pytest.skip("busybox is not installed here: only /bin/sh runs the probe's command")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    for name, text in (("nc", FAKE_NC), ("sleep", FAKE_SLEEP)):
        (bin_dir / name).write_text(text, encoding="utf-8")
        (bin_dir / name).chmod(0o755)
    (tmp_path / "answers").write_text("".join(f"{a}\n" for a in answers), encoding="utf-8")
    command = probe_command(probe)
    assert command[0] == "sh"
    result = subprocess.run(
        [*shell.split(), *command[1:]],
        env={
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "FAKE_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    calls_file = tmp_path / "calls"
    calls = calls_file.read_text(encoding="utf-8").splitlines() if calls_file.exists() else []
    return Outcome(result.returncode, calls)


@pytest.mark.parametrize("shell", SHELLS)
def test_a_refused_open_probe_is_retried_and_passes_when_a_later_attempt_connects(
    shell: str, tmp_path: Path
) -> None:
    probe = _probe("open")
    outcome = _run(shell, probe, [1, 1, 0], tmp_path)
    assert outcome.exit_code == 0
    assert outcome.connections == 3
    assert outcome.pauses == [f"sleep {OPEN_PROBE_PAUSE_S}"] * 2
    expected = f"nc -z -w {PROBE_CONNECT_TIMEOUT_S} redis.default.svc 6379"
    assert outcome.calls[0] == expected
    assert probe_check(probe, outcome.exit_code).ok


@pytest.mark.parametrize("shell", SHELLS)
def test_an_open_probe_refused_past_its_bound_fails(shell: str, tmp_path: Path) -> None:
    probe = _probe("open")
    # It would connect one attempt later: the bound is the bound.
    outcome = _run(shell, probe, [1] * OPEN_PROBE_ATTEMPTS + [0], tmp_path)
    assert outcome.exit_code == 1
    assert outcome.connections == OPEN_PROBE_ATTEMPTS
    assert len(outcome.pauses) == OPEN_PROBE_ATTEMPTS - 1
    check = probe_check(probe, outcome.exit_code)
    assert not check.ok
    assert check.detail == f"no connection in {OPEN_PROBE_ATTEMPTS} attempts (exit 1)"


@pytest.mark.parametrize("shell", SHELLS)
def test_a_closed_probe_is_never_retried(shell: str, tmp_path: Path) -> None:
    probe = _probe("closed")
    # Refused: it passes on that one attempt; a retry (which would connect) never happens.
    refused = _run(shell, probe, [1, 0], tmp_path / "refused")
    assert (refused.exit_code, refused.connections, refused.pauses) == (1, 1, [])
    assert probe_check(probe, refused.exit_code).ok
    # Connected: a failure at once, however a retry might have answered.
    connected = _run(shell, probe, [0, 1], tmp_path / "connected")
    assert (connected.exit_code, connected.connections, connected.pauses) == (0, 1, [])
    assert not probe_check(probe, connected.exit_code).ok


def test_the_bound_is_a_few_attempts_and_seconds(
    settings: dict[EnvironmentName, DeploySettings],
) -> None:
    attempts, pause, connect = OPEN_PROBE_ATTEMPTS, OPEN_PROBE_PAUSE_S, PROBE_CONNECT_TIMEOUT_S
    assert 2 < attempts <= 10
    # Every attempt timing out (a dropped, not refused, connection) and the pauses between.
    assert probe_seconds(_probe("open")) == attempts * connect + (attempts - 1) * pause <= 60
    assert probe_seconds(_probe("closed")) == connect
    # Every configured probe is one of the two kinds, so these bounds are all there are.
    expects = {p.expect for env in settings.values() for p in env.verify.probes}
    assert expects == {"open", "closed"}
