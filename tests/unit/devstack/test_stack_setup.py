"""What LocalStack decides before it starts anything: taken ports, where Redis comes from,
and the clients the gateway serves. Nothing is started here."""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gateway.clients import ClientRegistry, client_for_key, clients_file

from devstack.processes import StackError, free_port, redis_accepts
from devstack.stack import (
    DEV_CLIENT_KEY,
    LangfuseTarget,
    LocalStack,
    PortsTaken,
    StackPorts,
    StackSecrets,
)

PASSWORD = "run-password"  # pragma: allowlist secret
NO_PASSWORD_ERROR = b"-ERR AUTH <password> called without any password configured\r\n"


class FakeRedis:
    """Answers AUTH and PING as a Redis would: with `password` set, or none at all."""

    def __init__(self, password: str | None) -> None:
        self.password = password
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port: int = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while data.count(b"\r\n") < 7:  # AUTH's 5 lines, PING's 2 (RESP arrays)
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                if self.password is None:
                    auth = NO_PASSWORD_ERROR
                elif self.password.encode() in data.split(b"\r\n"):
                    auth = b"+OK\r\n"
                else:
                    auth = b"-WRONGPASS invalid username-password pair\r\n"
                ping = (
                    b"+PONG\r\n" if auth == b"+OK\r\n" else b"-NOAUTH Authentication required.\r\n"
                )
                conn.sendall(auth + (b"+PONG\r\n" if self.password is None else ping))

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def stack(tmp_path: Path, **changes: Any) -> LocalStack:
    return LocalStack(run_dir=tmp_path, ports=StackPorts.free(), **changes)


def test_every_taken_port_is_one_line_naming_it_its_process_and_the_way_out(
    tmp_path: Path, listener: int
) -> None:
    local = stack(tmp_path)
    local.ports = StackPorts(
        redis=free_port(),
        emulator=listener,
        receiver=free_port(),
        litellm=listener,
        gateway=free_port(),
    )
    with pytest.raises(PortsTaken) as raised:
        local.check_ports()
    lines = str(raised.value).splitlines()
    assert [line.split(" is taken")[0] for line in lines] == [
        f"port {listener} (litellm)",
        f"port {listener} (emulator)",
    ]
    for line, name in zip(lines, ("litellm", "emulator"), strict=True):
        assert f"PID {os.getpid()} (" in line
        assert f"--ports {name}=PORT" in line
        assert "--port-offset N" in line


def test_ports_of_processes_not_started_are_not_checked(tmp_path: Path, listener: int) -> None:
    """Real providers: no emulator; a real Langfuse: no receiver."""
    local = stack(
        tmp_path,
        use_real_providers=True,
        langfuse=LangfuseTarget("https://langfuse.example", "pk", "sk", local=False),
    )
    local.ports = StackPorts(
        redis=free_port(),
        emulator=listener,
        receiver=listener,
        litellm=free_port(),
        gateway=free_port(),
    )
    local.check_ports()


@pytest.mark.parametrize(
    ("password", "accepted"),
    [(PASSWORD, True), ("another-password", False), (None, False)],
    ids=["its-password", "another-password", "no-password"],
)
def test_redis_accepts_only_a_redis_that_takes_the_password(
    password: str | None, accepted: bool
) -> None:
    redis = FakeRedis(password)
    try:
        assert redis_accepts(redis.port, PASSWORD) is accepted
    finally:
        redis.close()


def test_a_silent_listener_is_not_a_redis(listener: int) -> None:
    assert not redis_accepts(listener, PASSWORD, timeout=0.3)


def test_a_redis_that_refuses_the_password_is_replaced_by_our_own_on_a_free_port(
    tmp_path: Path,
) -> None:
    redis = FakeRedis(None)
    try:
        local = stack(tmp_path, reuse_running_redis=True)
        local.ports = dataclasses.replace(local.ports, redis=redis.port)
        process = local._plan_redis()
        assert process is not None
        assert local.ports.redis != redis.port
        assert process.ready_port == local.ports.redis
        assert f"{redis.port} is held by PID {os.getpid()}" in local.redis_origin
        assert "does not accept this run's password" in local.redis_origin
        assert f"port {local.ports.redis}" in (tmp_path / "redis.conf").read_text()
    finally:
        redis.close()


def test_a_redis_that_takes_the_password_is_reused(tmp_path: Path) -> None:
    redis = FakeRedis(PASSWORD)
    try:
        local = stack(
            tmp_path, reuse_running_redis=True, secrets=StackSecrets(redis_password=PASSWORD)
        )
        local.ports = dataclasses.replace(local.ports, redis=redis.port)
        assert local._plan_redis() is None
        assert local.ports.redis == redis.port
        assert local.redis_origin.startswith(f"reused: PID {os.getpid()}")
    finally:
        redis.close()


def test_a_free_redis_port_gets_our_own_redis(tmp_path: Path) -> None:
    local = stack(tmp_path, reuse_running_redis=True)
    port = local.ports.redis
    assert local._plan_redis() is not None
    assert (local.ports.redis, local.redis_origin) == (port, "started for this run")


def test_the_local_clients_file_is_served_beside_the_development_client(tmp_path: Path) -> None:
    local_file = tmp_path / "clients.json"
    minted = client_for_key("demo-limited", "sk-gw-demo", ["claude-sonnet"], 3)
    local_file.write_text(clients_file([minted]))
    local = stack(tmp_path, local_clients_file=local_file)
    local.write_gateway_clients()
    registry = ClientRegistry.load(local.gateway_clients_file)
    assert [c.name for c in registry.clients] == ["dev", "demo-limited"]
    assert registry.authenticate(DEV_CLIENT_KEY) is not None
    assert registry.authenticate("sk-gw-demo") == minted
    assert local.local_clients == (minted,)
    assert local.gateway_clients_file.stat().st_mode & 0o777 == 0o600
    assert local_file.read_text() == clients_file([minted]), "the local file is never rewritten"


def test_no_local_clients_file_serves_the_development_client_alone(tmp_path: Path) -> None:
    local = stack(tmp_path, local_clients_file=tmp_path / "clients.json")
    local.write_gateway_clients()
    assert [c.name for c in ClientRegistry.load(local.gateway_clients_file).clients] == ["dev"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            clients_file([client_for_key("dev", "sk-gw-other", ["claude-sonnet"])]),
            "duplicate name: dev",
        ),
        ('{"clients": [{"name": "x"}]}', "invalid clients file"),
    ],
    ids=["the-development-client-s-name", "not-a-clients-file"],
)
def test_a_local_clients_file_that_cannot_be_served_is_an_error_naming_it(
    tmp_path: Path, text: str, problem: str
) -> None:
    local_file = tmp_path / "clients.json"
    local_file.write_text(text)
    local = stack(tmp_path, local_clients_file=local_file)
    with pytest.raises(StackError, match=problem) as raised:
        local.write_gateway_clients()
    assert str(local_file) in str(raised.value)


def test_local_traces_say_they_are_local_not_a_deployments(tmp_path: Path) -> None:
    """The chart sets ci's and prod's environment and release; the local stack its own."""
    env = stack(tmp_path).litellm_env()
    assert (env["LANGFUSE_TRACING_ENVIRONMENT"], env["LANGFUSE_RELEASE"]) == ("dev", "local")
