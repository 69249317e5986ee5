"""Whether the pipeline can reach a container engine, decided in seconds, before Dagger starts.

Without a session from `dagger run` and without a runner the user chose, the Dagger CLI
starts its engine in a local container runtime (docker, podman, nerdctl or finch). When
none of them answers, the SDK would fail only after trying to download the CLI; this says
so at once, in one sentence (the first half of `python -m pipeline --preflight`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# The runtimes Dagger's CLI looks for, in its order of preference.
RUNTIME_CLIS = ("docker", "podman", "nerdctl", "finch")
INFO_TIMEOUT_S = 5.0
STILL_RUNS = "`invoke test` runs every check that needs none"


@dataclass(frozen=True)
class Probe:
    """What `<runtime> info` said: its exit status and its last line of error output."""

    ok: bool
    detail: str = ""


def engine_problem(
    env: Mapping[str, str],
    which: Callable[[str], str | None],
    probe: Callable[[str], Probe],
) -> str | None:
    """None when an engine should be reachable, else why not (a clause, no final stop)."""
    if env.get("DAGGER_SESSION_PORT"):
        return None  # inside `dagger run`: the session, and so the engine, already exists
    if env.get("_EXPERIMENTAL_DAGGER_RUNNER_HOST"):
        return None  # the user chose a runner; Dagger reports its own connection errors
    installed = [cli for cli in RUNTIME_CLIS if which(cli) is not None]
    if not installed:
        return f"no container runtime is installed: none of {', '.join(RUNTIME_CLIS)}"
    failures = []
    for cli in installed:
        result = probe(cli)
        if result.ok:
            return None
        failures.append(f"{cli} info: {result.detail}" if result.detail else f"{cli} info failed")
    return "; ".join(failures)


def no_engine_message(problem: str) -> str:
    """The one sentence a user without a container engine gets."""
    return (
        f"No container engine is reachable ({problem.rstrip('.')}), so the pipeline cannot "
        f"run here; {STILL_RUNS}."
    )


def cannot_run_message(reason: str) -> str:
    """The one sentence when the engine was expected but Dagger could not start a session."""
    return (
        f"The pipeline cannot run here ({reason.rstrip('.')}); {STILL_RUNS}, and `invoke e2e` "
        "the container tier."
    )


def probe_runtime(cli: str) -> Probe:
    """`<cli> info` with a short timeout: a daemon that does not answer counts as absent."""
    try:
        result = subprocess.run(  # noqa: S603  (a runtime CLI found on PATH, fixed arguments)
            [cli, "info"],
            capture_output=True,
            text=True,
            timeout=INFO_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Probe(False, f"no answer within {INFO_TIMEOUT_S:g} s")
    except OSError as error:
        return Probe(False, error.strerror or str(error))
    if result.returncode == 0:
        return Probe(True)
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    return Probe(False, lines[-1] if lines else f"exit status {result.returncode}")


def engine_problem_here() -> str | None:
    return engine_problem(os.environ, shutil.which, probe_runtime)
