"""The ci platform as containers: the rendered charts, translated (workloads.py), on a Docker
network of the test's own, with the Langfuse OTLP receiver stand-in answering under Langfuse
web's Service name.

Everything the containers get comes from the render and the Secrets generated for it
(platform_deploy). Only published ports reach the host, on 127.0.0.1; the containers talk
to each other on the test's network and nowhere else (it is an `--internal` network).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gateway.clients import ClientsFile, client_for_key, clients_file

from tests.e2e.docker_cli import DockerError, docker
from tests.e2e.workloads import ContainerRun, Manifest, Probe, docker_run_args, service_aliases

Say = Callable[[str], None]
READY_TIMEOUT_S = 240.0


@dataclass(frozen=True)
class Started:
    run: ContainerRun
    published: Mapping[int, int]  # container port -> host port on 127.0.0.1

    def url(self, port: int | None = None, scheme: str = "http") -> str:
        number = port if port is not None else next(iter(self.published))
        return f"{scheme}://127.0.0.1:{self.published[number]}"


@dataclass
class ContainerNetwork:
    """A network, the containers on it, and their volume files (in a private folder)."""

    prefix: str
    say: Say
    network: str = ""
    started: dict[str, Started] = field(default_factory=dict)  # by workload
    _containers: list[str] = field(default_factory=list)  # every container created
    _volumes: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="e2e-volumes-")))

    def create(self) -> None:
        self.network = f"{self.prefix}-net"
        # A bridge without IP masquerading: containers reach each other (by their Service
        # aliases) and take published connections, but have no route out (no NAT). An
        # --internal network would cut the outside off too, but cannot publish ports.
        docker(
            "network",
            "create",
            "--driver=bridge",
            "--opt=com.docker.network.bridge.enable_ip_masquerade=false",
            "--opt=com.docker.network.bridge.host_binding_ipv4=127.0.0.1",
            self.network,
        )

    def start(self, run: ContainerRun) -> Started:
        volume_root = self._volumes / run.name
        for file in run.files:
            path = volume_root / str(file.path).lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(file.text, encoding="utf-8")
            path.chmod(file.mode)
            if file.gid is not None and os.geteuid() == 0:
                os.chown(path, 0, file.gid)
        for directory in run.read_only_dirs:
            # The mount point itself must let the pod's user in (kubelet: 0755-like).
            (volume_root / str(directory).lstrip("/")).mkdir(parents=True, exist_ok=True)
            (volume_root / str(directory).lstrip("/")).chmod(0o755)
        args = docker_run_args(run, self.network, str(volume_root))
        # Values by name only in argv; the CLI reads them from its own environment.
        docker(*args, env=dict(run.env))
        self._containers.append(run.name)
        started = Started(run, self._published(run.name, sorted(set(run.ports.values()))))
        self.started[run.workload] = started
        substituted = f" (stand-in for {run.image_substituted})" if run.image_substituted else ""
        self.say(f"started {run.workload} as {run.name}: {run.image}{substituted}")
        return started

    def _published(self, container: str, ports: Sequence[int]) -> dict[int, int]:
        published = {}
        for port in ports:
            answer = docker("port", container, f"{port}/tcp").splitlines()
            address = next(line for line in answer if line.startswith("127.0.0.1:"))
            published[port] = int(address.rsplit(":", 1)[1])
        return published

    def wait_ready(self, workload: str, timeout_s: float = READY_TIMEOUT_S) -> float:
        """Until the container's readiness (or startup) probe passes; seconds taken. Fails
        naming the workload, with its last log lines, when it exits or never gets ready."""
        started = self.started[workload]
        probe = started.run.readiness
        began = time.monotonic()
        deadline = began + timeout_s
        while True:
            state = docker("inspect", "--format", "{{.State.Status}}", started.run.name)
            if state not in ("running", "created"):
                raise AssertionError(
                    f"{workload} exited ({state}) before it was ready; its log ends:\n"
                    f"{self.log_tail(started.run.name)}"
                )
            if probe is None or self._probe_passes(
                started, probe.kind, probe.port, probe.path, probe.command
            ):
                return time.monotonic() - began
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{workload} never passed its {probe.kind} readiness probe within "
                    f"{timeout_s:.0f} s; its log ends:\n{self.log_tail(started.run.name)}"
                )
            time.sleep(min(probe.period_s, 1.0))

    def _probe_passes(
        self, started: Started, kind: str, port: int | None, path: str, command: Sequence[str]
    ) -> bool:
        if kind == "exec":
            try:
                docker("exec", started.run.name, *command, timeout=30)
            except DockerError:
                return False
            return True
        assert port is not None
        if kind == "tcpSocket":
            try:
                with socket.create_connection(("127.0.0.1", started.published[port]), timeout=2):
                    return True
            except OSError:
                return False
        try:
            url = started.url(port) + path
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
                return 200 <= int(response.status) < 400
        except (OSError, urllib.error.HTTPError):
            return False

    def log_tail(self, container: str, lines: int = 40) -> str:
        return combined_logs(container, tail=lines)

    def keep_logs(self, folder: Path) -> Path:
        """Every container's whole log (stdout and stderr) and its state, into `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        for name in self._containers:
            try:
                text = combined_logs(name)
                state = docker("inspect", "--format", "{{json .State}}", name)
            except DockerError as error:
                text, state = f"(no log: {error})", "{}"
            (folder / f"{name}.log").write_text(text, encoding="utf-8")
            (folder / f"{name}.state.json").write_text(state + "\n", encoding="utf-8")
        return folder

    def remove(self) -> None:
        for name in self._containers:
            try:
                docker("rm", "--force", name, timeout=60)
            except DockerError as error:
                self.say(f"could not remove {name}: {error}")
        if self.network:
            try:
                docker("network", "rm", self.network, timeout=60)
            except DockerError as error:
                self.say(f"could not remove network {self.network}: {error}")
        shutil.rmtree(self._volumes, ignore_errors=True)


def combined_logs(container: str, tail: int | None = None) -> str:
    """A container's stdout and stderr as one text, in order (`docker logs` splits them)."""
    tail_args = ["--tail", str(tail)] if tail is not None else []
    result = subprocess.run(
        ["docker", "logs", "--timestamps", *tail_args, container],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
        check=False,
    )
    return result.stdout


def receiver_run(
    image: str, name_prefix: str, langfuse_service: tuple[str, str, int], keys: Mapping[str, str]
) -> ContainerRun:
    """The Langfuse OTLP receiver stand-in, under Langfuse web's Service name (namespace,
    Service, port as the deploy settings name Langfuse web), run as the platform's own pods
    are: non-root, read-only, no capabilities."""
    namespace, service, port = langfuse_service
    return ContainerRun(
        workload=f"{namespace}/{service} (stand-in: Langfuse OTLP receiver)",
        name=f"{name_prefix}-langfuse-receiver",
        image=image,
        entrypoint=None,
        arguments=(
            "python",
            "-m",
            "devstack.langfuse_receiver",
            "--host",
            "0.0.0.0",
            "--port",
            str(port),
        ),
        env=dict(keys),
        user="10001:10001",
        group_add=(),
        read_only=True,
        cap_drop=("ALL",),
        cap_add=(),
        no_new_privileges=True,
        tmpfs=("/tmp:rw,mode=1777,size=16m",),  # noqa: S108  (the container's own /tmp)
        files=(),
        read_only_dirs=(),
        aliases=service_aliases(service, namespace),
        ports={"http": port},
        readiness=Probe("httpGet", port, "/healthz", period_s=1.0),
        stop_timeout_s=10,
        memory=None,
        cpus=None,
    )


def deployments(manifests: Sequence[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m.get("kind") == "Deployment"]


def services(manifests: Sequence[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m.get("kind") == "Service"]


def config_map_data(manifests: Sequence[Manifest]) -> dict[tuple[str, str], dict[str, str]]:
    return {
        (m["metadata"].get("namespace", "default"), m["metadata"]["name"]): dict(
            m.get("data") or {}
        )
        for m in manifests
        if m.get("kind") == "ConfigMap"
    }


def with_extra_client(
    clients_json: str, name: str, models: Sequence[str], rpm: int
) -> tuple[str, str]:
    """The generated clients file plus one client with a requests-per-minute limit, for the
    rate-limit test; returns (file text, the new client's key)."""
    key = "sk-gw-" + secrets.token_urlsafe(32)
    existing = ClientsFile.model_validate_json(clients_json).clients
    added = client_for_key(name, key, models, requests_per_minute=rpm)
    return clients_file([*existing, added]), key
