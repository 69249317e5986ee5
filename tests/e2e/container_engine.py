"""Whether a container engine answers here, and why not when it does not."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache


@cache
def unavailable_reason() -> str | None:
    """None when `docker info` reaches an engine, else one sentence saying why not."""
    docker = shutil.which("docker")
    if docker is None:
        return "no container engine: the docker CLI is not installed"
    try:
        result = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "no container engine: `docker info` did not answer within 15 s"
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return f"no container engine reachable (`docker info`: {detail})"
    return None
