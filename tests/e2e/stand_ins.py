"""Base and third-party images: the official ones where they can be pulled, else stand-ins.

Where no registry answers (the CI machine), a Debian bookworm root filesystem is made with
debootstrap from the mirror apt already uses and imported as `localhost/stand-in-debian`;
the Python base and Redis are built on top of it from Debian's packages
(tests/e2e/stand-ins/*/Dockerfile). Every stand-in is tagged `localhost/stand-in-*` and
labelled as one, so nobody mistakes it for the official image, and every use is announced.
A stand-in already on the engine is reused (a laptop's cache); CI starts cold.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.docker_cli import BUILD_TIMEOUT_S, docker, image_exists, pull_problem

REPO_ROOT = Path(__file__).resolve().parents[2]
STAND_INS = Path(__file__).resolve().parent / "stand-ins"
STAND_IN_DEBIAN = "localhost/stand-in-debian:bookworm"
STAND_IN_PYTHON = "localhost/stand-in-python:3.11-bookworm"
STAND_IN_REDIS = "localhost/stand-in-redis:7-bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEBOOTSTRAP_TIMEOUT_S = 900

Say = Callable[[str], None]


@dataclass(frozen=True)
class BaseImage:
    """The image to use, and whether it is a stand-in (with why the official one is not)."""

    reference: str
    stand_in: bool
    why: str = ""


def official_python_base(dockerfile: Path = REPO_ROOT / "services/gateway/Dockerfile") -> str:
    """The services' official base, as their Dockerfiles' PYTHON_BASE default names it."""
    found = re.search(r"^ARG PYTHON_BASE=(\S+)$", dockerfile.read_text(), flags=re.MULTILINE)
    if found is None:
        raise ValueError(f"{dockerfile} declares no ARG PYTHON_BASE=<image> default")
    return found.group(1)


def debian_mirror(sources: Path = Path("/etc/apt")) -> str:
    """The Debian mirror apt already uses here (deb822 .sources or a sources.list line)."""
    for path in sorted(sources.glob("sources.list.d/*.sources")):
        for line in path.read_text().splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split(":", 1)[1].split()[0]
    for path in [sources / "sources.list", *sorted(sources.glob("sources.list.d/*.list"))]:
        if path.is_file():
            for line in path.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 3 and parts[0] == "deb" and "security" not in parts[1]:
                    return parts[-3] if parts[1].startswith("[") else parts[1]
    return DEFAULT_MIRROR


def _debian_rootfs(say: Say) -> None:
    """debootstrap bookworm (minbase) and import it as STAND_IN_DEBIAN."""
    if image_exists(STAND_IN_DEBIAN):
        say(f"reusing {STAND_IN_DEBIAN} (delete it to rebuild from Debian's mirror)")
        return
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not Path(debootstrap).exists():
        raise RuntimeError(
            "a stand-in base is needed (no registry answers) but debootstrap is not installed: "
            "`scripts/bootstrap.sh --docker-engine DIR` installs it on Debian"
        )
    mirror = debian_mirror()
    say(f"building {STAND_IN_DEBIAN} with debootstrap from {mirror}")
    with tempfile.TemporaryDirectory(prefix="stand-in-rootfs-") as scratch:
        rootfs = Path(scratch) / "rootfs"
        result = subprocess.run(
            [debootstrap, "--variant=minbase", "bookworm", str(rootfs), mirror],
            capture_output=True,
            text=True,
            timeout=DEBOOTSTRAP_TIMEOUT_S,
            check=False,
        )
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
            raise RuntimeError(f"debootstrap failed (exit {result.returncode}): {' | '.join(tail)}")
        tar = subprocess.run(
            ["tar", "-C", str(rootfs), "-c", "."], capture_output=True, check=True
        ).stdout
        docker(
            "import",
            "--change",
            'CMD ["/bin/bash"]',
            "--change",
            'LABEL org.opencontainers.image.description="TEST STAND-IN: Debian bookworm minbase '
            'from debootstrap"',
            "-",
            STAND_IN_DEBIAN,
            stdin=tar,
            timeout=BUILD_TIMEOUT_S,
        )


def _stand_in(name: str, tag: str, say: Say) -> None:
    if image_exists(tag):
        say(f"reusing {tag}")
        return
    _debian_rootfs(say)
    say(f"building {tag} from Debian packages ({STAND_INS.name}/{name}/Dockerfile)")
    docker(
        "build",
        "--quiet",
        "--build-arg",
        f"DEBIAN_BASE={STAND_IN_DEBIAN}",
        "--tag",
        tag,
        str(STAND_INS / name),
        timeout=BUILD_TIMEOUT_S,
    )


def python_base(say: Say) -> BaseImage:
    """The official Python base where it is here or can be pulled, else the stand-in."""
    official = official_python_base()
    problem = pull_problem(official)
    if problem is None:
        return BaseImage(official, stand_in=False)
    _stand_in("python", STAND_IN_PYTHON, say)
    return BaseImage(STAND_IN_PYTHON, stand_in=True, why=problem)


def redis_image(rendered: str, say: Say) -> BaseImage:
    """What runs for the test-redis chart's image: that image, or the Redis stand-in."""
    problem = pull_problem(rendered)
    if problem is None:
        return BaseImage(rendered, stand_in=False)
    _stand_in("redis", STAND_IN_REDIS, say)
    return BaseImage(STAND_IN_REDIS, stand_in=True, why=problem)
