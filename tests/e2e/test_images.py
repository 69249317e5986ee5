"""Each service image builds, runs as non-root on a read-only root filesystem, and is healthy.

This is how the cluster runs them (restricted Pod Security, readOnlyRootFilesystem, an
emptyDir at /tmp). Needs a container engine; skipped with the reason where none answers.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.processes import free_port, http_ok

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Image:
    name: str
    dockerfile: str
    port: int
    health_path: str
    env_names: tuple[str, ...]
    # The gateway refuses to start without its clients file (mounted from a Secret).
    clients_file: bool = False


IMAGES = [
    Image(
        "provider-emulator",
        "services/provider-emulator/Dockerfile",
        8090,
        "/healthz",
        ("EMULATOR_ANTHROPIC_API_KEYS", "EMULATOR_GROQ_API_KEYS"),
    ),
    Image(
        "gateway",
        "services/gateway/Dockerfile",
        8002,
        "/readyz",
        ("GATEWAY_LITELLM_MASTER_KEY",),
        clients_file=True,
    ),
    Image(
        "litellm",
        "services/litellm/Dockerfile",
        4000,
        "/health/liveliness",
        ("LITELLM_MASTER_KEY", "ANTHROPIC_API_KEY", "GROQ_API_KEY"),
    ),
]


def docker(*args: str, timeout: float = 900) -> str:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"docker {args[0]} failed:\n{result.stderr[-3000:]}"
    return result.stdout.strip()


@pytest.fixture(params=IMAGES, ids=lambda image: image.name)
def running_container(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Image, str, str]]:
    image: Image = request.param
    tag = f"ai-platform-{image.name}:e2e"
    docker("build", "--file", image.dockerfile, "--tag", tag, str(REPO_ROOT))
    port = free_port()
    env_args = [f"--env={name}=sk-{secrets.token_hex(24)}" for name in image.env_names]
    if image.clients_file:
        clients = tmp_path / "clients.json"
        clients.write_text(json.dumps({"clients": [{
            "name": "e2e", "key_sha256": hashlib.sha256(secrets.token_bytes(32)).hexdigest(),
            "models": ["claude-sonnet"],
        }]}))  # fmt: skip
        clients.chmod(0o644)
        env_args += [f"--volume={clients}:/etc/gateway/clients.json:ro"]
    container = docker(
        "run",
        "--detach",
        "--read-only",
        "--tmpfs=/tmp",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
        f"--publish=127.0.0.1:{port}:{image.port}",
        *env_args,
        tag,
    )
    try:
        yield image, container, f"http://127.0.0.1:{port}"
    finally:
        docker("rm", "--force", container, timeout=60)


def test_image_runs_non_root_on_a_read_only_filesystem(
    running_container: tuple[Image, str, str],
) -> None:
    image, container, url = running_container
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not http_ok(url + image.health_path):
        time.sleep(1)
    logs = docker("logs", container)
    assert http_ok(url + image.health_path), f"{image.name} never became healthy:\n{logs[-3000:]}"
    assert docker("exec", container, "id", "-u") != "0"
    with urllib.request.urlopen(url + image.health_path, timeout=5) as response:  # noqa: S310
        assert response.status == 200
