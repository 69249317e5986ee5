"""The test tiers: `invoke test` needs no container engine and never collects an e2e test;
`invoke e2e` is the container tier; every task prints its own help."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import nox
import pytest

import noxfile
import tasks

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RecordedSession:
    """Stands in for nox.Session: records what a session function installs and runs."""

    posargs: list[str] = field(default_factory=list)
    runs: list[tuple[str, ...]] = field(default_factory=list)

    def install(self, *args: str) -> None:
        pass

    def run(self, *args: str, **_: Any) -> None:
        self.runs.append(args)


def session_argv(function: Any) -> tuple[str, ...]:
    recorded = RecordedSession()
    function(cast(nox.Session, recorded))
    (argv,) = recorded.runs
    return argv


def collected(argv: tuple[str, ...]) -> list[str]:
    """The test ids pytest collects with these arguments (as the session passes them)."""
    assert argv[0] == "pytest"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            *argv[1:],
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # Exit status 5 is pytest's "no tests collected".
    assert result.returncode in (0, 5), result.stdout[-3000:] + result.stderr[-3000:]
    return [line for line in result.stdout.splitlines() if "::" in line]


def test_the_tests_session_never_collects_an_e2e_test() -> None:
    ids = collected(session_argv(noxfile.tests))
    assert len(ids) > 100  # it does collect the unit and integration tests
    assert [i for i in ids if i.startswith("tests/e2e")] == []


def test_every_container_tier_test_is_marked_e2e() -> None:
    """So `-m "not e2e"` would leave them out too, wherever they are collected from."""
    assert collected(("pytest", "tests/e2e", "-m", "not e2e")) == []
    assert collected(("pytest", "tests/e2e"))


@dataclass
class RecordedContext:
    """Stands in for invoke's Context: records the commands a task would run."""

    commands: list[str] = field(default_factory=list)

    def run(self, command: str, **_: Any) -> None:
        self.commands.append(command)


def test_invoke_test_runs_no_container_tier() -> None:
    context = RecordedContext()
    tasks.test.body(context)
    assert context.commands, "invoke test ran nothing"
    assert all("e2e" not in command for command in context.commands), context.commands


def test_invoke_e2e_runs_the_e2e_session() -> None:
    argv = session_argv(noxfile.e2e)
    assert argv[:2] == ("pytest", "tests/e2e")


def invoke(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def task_names() -> list[str]:
    listing = invoke("--list", "--list-format=json")
    assert listing.returncode == 0, listing.stderr
    return sorted(task["name"] for task in json.loads(listing.stdout)["tasks"])


@pytest.mark.parametrize("name", task_names())
def test_every_task_prints_its_help(name: str) -> None:
    """`invoke <task> --help` prints help and runs nothing (a required argument would make
    invoke treat --help as its value)."""
    result = invoke(name, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: inv[oke] [--core-opts] {name}"), result.stdout[:300]
    assert "nox >" not in result.stdout + result.stderr
