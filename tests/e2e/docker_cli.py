"""The docker CLI, as the container tier uses it: one call a command, a clear error on failure.

DOCKER_HOST (as `.ci/run` sets it for the engine it starts) is honoured like everywhere else.
Values that must not show in `ps` (secret env values) go through the CLI's own environment:
`docker run --env NAME` takes NAME's value from it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from functools import cache

BUILD_TIMEOUT_S = 1200
# What the docker CLI without buildx says on every build; not part of any failure.
_LEGACY_BUILDER_NOTICE = re.compile(
    r"legacy builder is deprecated|Install the buildx|docs\.docker\.com/go/buildx"
)
COMMAND_TIMEOUT_S = 120


class DockerError(RuntimeError):
    """A docker command failed; the message names the command and ends with its stderr."""


def docker(
    *args: str,
    timeout: float = COMMAND_TIMEOUT_S,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
) -> str:
    """Run `docker ARGS`; its stdout, stripped. Raises DockerError naming what failed."""
    command = ["docker", *args]
    try:
        result = subprocess.run(
            command,
            input=stdin,
            capture_output=True,
            timeout=timeout,
            check=False,
            env={**os.environ, **(env or {})},
        )
    except subprocess.TimeoutExpired:
        raise DockerError(f"`{_shown(command)}` did not finish within {timeout:.0f} s") from None
    if result.returncode != 0:
        # The legacy builder reports a failed step on stdout, the reason on stderr: both.
        output = result.stdout.decode(errors="replace").strip().splitlines()[-30:]
        errors = [
            line
            for line in result.stderr.decode(errors="replace").strip().splitlines()
            if not _LEGACY_BUILDER_NOTICE.search(line)
        ]
        said = "\n".join([*output, *errors[-20:]])
        raise DockerError(f"`{_shown(command)}` exited with {result.returncode}:\n{said}")
    return result.stdout.decode(errors="replace").strip()


def _shown(command: Sequence[str]) -> str:
    shown = shlex.join(command)
    return shown if len(shown) <= 300 else shown[:299] + "…"


def image_exists(reference: str) -> bool:
    try:
        docker("image", "inspect", "--format", "{{.Id}}", reference)
    except DockerError:
        return False
    return True


def pull_problem(reference: str, timeout: float = 180) -> str | None:
    """None when `reference` is here or was pulled now; else why not, in a clause."""
    if image_exists(reference):
        return None
    try:
        docker("pull", "--quiet", reference, timeout=timeout)
    except DockerError as error:
        lines = [line for line in str(error).splitlines() if line.strip()]
        return f"{reference} cannot be pulled here ({lines[-1].strip() if lines else 'no output'})"
    return None


@cache
def unavailable_reason() -> str | None:
    """None when `docker info` reaches an engine, else one sentence saying why not."""
    if shutil.which("docker") is None:
        return "no container engine: the docker CLI is not installed"
    try:
        docker("info", "--format", "{{.ServerVersion}}", timeout=15)
    except DockerError as error:
        lines = [line for line in str(error).splitlines() if line.strip()]
        return f"no container engine reachable (`docker info`: {lines[-1].strip()})"
    return None
