"""LiteLLM's own virtualenv, installed from its hashed lock.

LiteLLM pulls in ~130 packages whose pins clash with the gateway's and the tools', so it
never shares an environment with them: the local stack runs it from `.venvs/litellm`,
exactly as its image installs it (`--require-hashes` from `locks/litellm.txt`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from platform_deploy.config.files import REPO_ROOT

LITELLM_LOCK = REPO_ROOT / "locks" / "litellm.txt"
DEFAULT_LITELLM_VENV = REPO_ROOT / ".venvs" / "litellm"


class VenvError(RuntimeError):
    """The LiteLLM virtualenv could not be created."""


def _lock_digest(lock: Path) -> str:
    return hashlib.sha256(lock.read_bytes()).hexdigest()


def _bin(venv: Path, name: str) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / name


def ensure_litellm_venv(venv: Path | None = None, lock: Path = LITELLM_LOCK) -> Path:
    """Return the `litellm` executable, (re)installing the venv when the lock changed."""
    venv = venv or Path(os.environ.get("LITELLM_VENV", DEFAULT_LITELLM_VENV))
    stamp = venv / ".lock-sha256"
    executable = _bin(venv, "litellm")
    digest = _lock_digest(lock)
    if executable.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return executable

    uv = shutil.which("uv")
    if uv is None:
        raise VenvError("uv is not on PATH; install the tools first: see README.md")
    print(f"Installing LiteLLM from {lock.relative_to(REPO_ROOT)} into {venv} ...", flush=True)
    commands = [
        [uv, "venv", "--quiet", "--allow-existing", "--python", sys.executable, str(venv)],
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(_bin(venv, "python")),
            "--require-hashes",
            "--no-deps",
            "-r",
            str(lock),
        ],
    ]
    for command in commands:
        result = subprocess.run(command, check=False, capture_output=True, text=True)  # noqa: S603
        if result.returncode != 0:
            raise VenvError(f"{' '.join(command[:3])} failed:\n{result.stderr.strip()}")
    if not executable.exists():
        raise VenvError(f"{executable} is missing after installing {lock}")
    stamp.write_text(digest + "\n")
    return executable
