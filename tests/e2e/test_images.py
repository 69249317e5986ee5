"""Each image builds from a clean context, runs as its own non-root user on a read-only root
filesystem with /tmp as a tmpfs (as the cluster runs it), and becomes healthy; and no image
carries the CA that only the build host trusts.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e import images
from tests.e2e.conftest import BuiltImages
from tests.e2e.docker_cli import docker
from tests.e2e.platform_containers import combined_logs

pytestmark = pytest.mark.e2e

HEALTHY_TIMEOUT_S = 180
SOURCE_LABEL = "org.opencontainers.image.source"


@dataclass(frozen=True)
class Standalone:
    """How to start one image on its own: its port, health path and required settings."""

    port: int
    health_path: str
    secret_env: tuple[str, ...]
    # The gateway refuses to start without its clients file (mounted from a Secret).
    clients_file: bool = False


STANDALONE = {
    "gateway": Standalone(8002, "/readyz", ("GATEWAY_LITELLM_MASTER_KEY",), clients_file=True),
    "litellm": Standalone(
        4000, "/health/liveliness", ("LITELLM_MASTER_KEY", "ANTHROPIC_API_KEY", "GROQ_API_KEY")
    ),
    "provider-emulator": Standalone(
        8090, "/healthz", ("EMULATOR_ANTHROPIC_API_KEYS", "EMULATOR_GROQ_API_KEYS")
    ),
    "langfuse-receiver": Standalone(
        3000, "/healthz", ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY")
    ),
}


def test_every_built_image_has_a_way_to_start_here(built_images: BuiltImages) -> None:
    assert set(built_images.builds) == set(STANDALONE)


@pytest.fixture(params=sorted(STANDALONE))
def running(
    request: pytest.FixtureRequest, built_images: BuiltImages, tmp_path: Path
) -> Iterator[tuple[str, str, str]]:
    name: str = request.param
    image, how = built_images.builds[name], STANDALONE[name]
    env = {variable: f"sk-{secrets.token_hex(24)}" for variable in how.secret_env}
    args = [f"--env={variable}" for variable in sorted(env)]
    if how.clients_file:
        clients = tmp_path / "clients.json"
        digest = hashlib.sha256(secrets.token_bytes(32)).hexdigest()
        entry = {"name": "e2e", "key_sha256": digest, "models": ["claude-sonnet"]}
        clients.write_text(json.dumps({"clients": [entry]}))
        clients.chmod(0o644)
        args.append(f"--volume={clients}:/etc/gateway/clients.json:ro")
    container = docker(
        "run",
        "--detach",
        "--pull=never",
        "--read-only",
        "--tmpfs=/tmp:rw,mode=1777",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
        f"--publish=127.0.0.1::{how.port}",
        *args,
        image.tag,
        env=env,
    )
    try:
        host_port = docker("port", container, f"{how.port}/tcp").splitlines()[0].rsplit(":", 1)[1]
        yield name, container, f"http://127.0.0.1:{host_port}"
    finally:
        docker("rm", "--force", container, timeout=60)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 (loopback)
            return int(response.status) == 200
    except OSError:
        return False


def test_image_runs_non_root_on_a_read_only_filesystem(
    running: tuple[str, str, str], built_images: BuiltImages
) -> None:
    name, container, url = running
    how = STANDALONE[name]
    deadline = time.monotonic() + HEALTHY_TIMEOUT_S
    while time.monotonic() < deadline and not _healthy(url + how.health_path):
        state = docker("inspect", "--format", "{{.State.Status}}", container)
        assert state == "running", f"{name} exited ({state}):\n{combined_logs(container, 40)}"
        time.sleep(1)
    assert _healthy(url + how.health_path), (
        f"{name} never answered {how.health_path} within {HEALTHY_TIMEOUT_S} s:\n"
        f"{combined_logs(container, 40)}"
    )
    uid = docker("exec", container, "id", "-u")
    assert uid != "0", f"{name} runs as root: its Dockerfile's USER is missing or root"
    configured = docker(
        "image", "inspect", "--format", "{{.Config.User}}", built_images.builds[name].tag
    )
    assert configured.split(":")[0] == uid, (name, configured, uid)
    # The root filesystem refuses writes; /tmp (the emptyDir in the cluster) takes them.
    assert "Read-only file system" in _write_attempt(container, "/app-write-probe")
    assert _write_attempt(container, "/tmp/write-probe") == "written"  # noqa: S108
    labels = json.loads(
        docker(
            "image", "inspect", "--format", "{{json .Config.Labels}}", built_images.builds[name].tag
        )
    )
    assert labels.get(SOURCE_LABEL, "").startswith("https://github.com/"), labels


def _write_attempt(container: str, path: str) -> str:
    script = (
        "import sys\ntry:\n    open(sys.argv[1], 'w').write('x')\n    print('written')\n"
        "except OSError as error:\n    print(error.strerror)\n"
    )
    return docker("exec", container, "python", "-c", script, path)


def _host_only_ca(built_images: BuiltImages) -> str:
    if not built_images.host_only_cas:
        pytest.skip("this host trusts no CA beyond the base image's own: nothing to look for")
    return built_images.host_only_cas[0]


@pytest.mark.parametrize("name", sorted(STANDALONE))
def test_no_image_carries_the_ca_only_the_build_host_trusts(
    name: str, built_images: BuiltImages, tmp_path: Path
) -> None:
    """The builds were given the host's extra CAs (BUILD_CA_CERTS, build stage only): not
    one of their bytes may be in a layer or the history of the image that ships."""
    _host_only_ca(built_images)
    saved = tmp_path / f"{name}.tar"
    docker("save", "--output", str(saved), built_images.builds[name].tag, timeout=600)
    needles = [n for pem in built_images.host_only_cas for n in images.certificate_needles(pem)]
    assert images.saved_image_mentions(saved, needles) == []
    history = docker(
        "history", "--no-trunc", "--format", "{{.CreatedBy}}", built_images.builds[name].tag
    )
    assert not any(needle.decode(errors="ignore") in history for needle in needles[1:])


def test_the_ca_check_finds_a_ca_that_an_image_does_carry(
    built_images: BuiltImages, tmp_path: Path
) -> None:
    """The check above can fail: an image that copies the CA in is caught, by file."""
    pem = _host_only_ca(built_images)
    (tmp_path / "ca.pem").write_text(pem)
    (tmp_path / "Dockerfile").write_text("ARG BASE\nFROM ${BASE}\nCOPY ca.pem /etc/leaked-ca.pem\n")
    tag = f"localhost/e2e-ca-control:{secrets.token_hex(4)}"
    docker(
        "build", "--quiet", "--build-arg", f"BASE={built_images.python_base.reference}",
        "--tag", tag, str(tmp_path),
    )  # fmt: skip
    try:
        saved = tmp_path / "control.tar"
        docker("save", "--output", str(saved), tag, timeout=600)
        found = images.saved_image_mentions(saved, images.certificate_needles(pem))
        assert any(place.endswith("etc/leaked-ca.pem") for place in found), found
    finally:
        docker("rmi", "--force", tag)
