"""`invoke dev` as a new user meets it, run for real on ports the test chose.

One run serves the module: a Redis of another owner (with another password) already holds
its Redis port, and a client minted before the start waits in its clients file. The last
test stops it with SIGINT. Taken ports are a run of their own that never starts anything.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from devstack.banner import HEADLINE
from devstack.processes import ManagedProcess
from tests.integration.devstack_run import (
    DevRun,
    assert_stopped_cleanly,
    chat,
    free_ports,
    group_holds,
    http,
    mint,
    port_spec,
    redis_with_password,
    stack_env,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

DEV_KEY = "sk-gw-dev-local-only"  # pragma: allowlist secret
# The banner's rows: label -> (the process's name in the run, its --ports name).
ROWS = {
    "Shared AI Gateway": ("gateway", "gateway"),
    "LiteLLM proxy": ("litellm", "litellm"),
    "Redis": ("redis", "redis"),
    "Anthropic API": ("provider-emulator", "emulator"),
    "Langfuse": ("langfuse-receiver", "receiver"),
}


@dataclass
class Run:
    dev: DevRun
    run_dir: Path
    ports: dict[str, int]  # as asked for; Redis's was taken, see redis_port
    other_redis: ManagedProcess
    other_password: str
    keys: dict[str, str]

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    @property
    def redis_port(self) -> int:
        """The port the stack's own Redis got, from the banner."""
        found = re.search(r"^  Redis\s+127\.0\.0\.1:(\d+)", self.dev.banner, re.MULTILINE)
        assert found, self.dev.banner
        return int(found[1])


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    run_dir = tmp_path_factory.mktemp("devstack-run")
    ports = free_ports()
    other_password = secrets.token_hex(16)
    keys = {
        "limited": mint(run_dir, "test-limited", "--rpm", "2"),
        "probe": mint(run_dir, "test-probe", "--rpm", "100"),
    }
    with redis_with_password(run_dir, ports["redis"], other_password) as other_redis:
        dev = DevRun(["--ports", port_spec(ports)], stack_env(run_dir))
        try:
            dev.wait_for_banner()
            yield Run(dev, run_dir, ports, other_redis, other_password, keys)
        finally:
            dev.kill_what_is_left()


def test_progress_is_printed_while_the_stack_starts(run: Run) -> None:
    """What is being waited for, while LiteLLM takes its 10-30 s, before the banner."""
    before_banner = run.dev.output[: run.dev.output.index(HEADLINE)]
    litellm = run.dev.pids()["litellm"]
    url = f"http://127.0.0.1:{run.ports['litellm']}/health/readiness"
    assert f"Starting litellm (pid {litellm}): waiting for {url}\n" in before_banner
    assert re.search(r"^  litellm ready after \d+\.\d s$", before_banner, re.MULTILINE)
    for name in ("redis", "provider-emulator", "langfuse-receiver", "gateway"):
        assert re.search(rf"^  {name} ready after \d+\.\d s$", before_banner, re.MULTILINE)


def test_the_banner_names_the_processes_that_hold_the_ports(run: Run) -> None:
    """Each row's PID leads the process group that holds the row's port: the banner came
    after the stack's own processes answered. `invoke dev` is the stack itself (exec)."""
    headline = run.dev.banner.splitlines()[0]
    assert f"SIGTERM to pid {run.dev.popen.pid} " in headline
    banner_pids = run.dev.banner_pids()
    started = run.dev.pids()
    for label, (process, port_name) in ROWS.items():
        port = run.redis_port if port_name == "redis" else run.ports[port_name]
        assert banner_pids[label] == started[process], label
        assert group_holds(banner_pids[label], port), f"{label}: port {port}"


def test_a_redis_that_refuses_the_run_password_is_left_alone(run: Run) -> None:
    """Another owner's Redis holds the Redis port: the stack starts its own on a free port,
    says so, and its gateway's /readyz and the banner agree that Redis is up."""
    taken = run.ports["redis"]
    assert run.redis_port != taken
    redis_row = next(line for line in run.dev.banner.splitlines() if line.startswith("  Redis"))
    assert (
        f"(started for this run on a free port: {taken} is held by PID {run.other_redis.pid} "
        f"(redis-server 127.0.0.1:{taken}), which does not accept this run's password)"
    ) in redis_row
    status, _, ready = http("GET", f"{run.gateway_url}/readyz")
    assert (status, ready) == (200, {"status": "ready", "litellm": "up", "redis": "up"})
    assert "/readyz: litellm up, redis up" in run.dev.banner

    status, headers, _ = chat(run.gateway_url, run.keys["probe"])
    assert (status, headers["x-ratelimit-remaining-requests"]) == (200, "99")
    other = redis.Redis(port=taken, password=run.other_password, socket_timeout=5)
    try:
        assert other.dbsize() == 0, "the stack wrote to a Redis that is not its own"
    finally:
        other.close()


def test_a_client_minted_before_the_start_is_served_and_rate_limited(run: Run) -> None:
    table = run.dev.banner[run.dev.banner.index("Gateway clients:") :]
    assert re.search(r"^  dev\s+key sk-gw-dev-local-only\s", table, re.MULTILINE)
    assert re.search(r"^  test-limited\s.*claude-sonnet\s+2 requests/min$", table, re.MULTILINE)
    answers = [chat(run.gateway_url, run.keys["limited"]) for _ in range(3)]
    assert [status for status, _, _ in answers] == [200, 200, 429]
    assert [h["x-ratelimit-remaining-requests"] for _, h, _ in answers] == ["1", "0", "0"]
    assert {h["x-ratelimit-limit-requests"] for _, h, _ in answers} == {"2"}
    assert int(answers[2][1]["retry-after"]) > 0
    assert chat(run.gateway_url, DEV_KEY)[0] == 200


def test_a_client_minted_while_it_runs_is_served_after_a_gateway_restart(run: Run) -> None:
    gateway_before = run.dev.pids()["gateway"]
    key = mint(run.run_dir, "test-later", "--rpm", "5")
    run.dev.wait_for(f"{run.run_dir / 'clients.json'} changed: restarting the gateway", 30)
    run.dev.wait_for("  test-later ", 30)
    assert run.dev.pids()["gateway"] != gateway_before
    status, headers, _ = chat(run.gateway_url, key)
    assert (status, headers["x-ratelimit-limit-requests"]) == (200, "5")
    assert chat(run.gateway_url, run.keys["limited"])[0] == 429  # its minute is not over


def test_the_printed_calls_work_as_printed(run: Run) -> None:
    """The gateway call, the Langfuse docs' LiteLLM call with the master key read from its
    0600 file, and the receiver's spans of the gateway call's session, run from the banner."""
    gateway_call, litellm_call, spans_call = run.dev.commands()
    assert f"{run.gateway_url}/v1/chat/completions" in gateway_call
    assert f"http://127.0.0.1:{run.ports['litellm']}/v1/chat/completions" in litellm_call
    for call in (gateway_call, litellm_call):
        completion = _json_of(call)
        assert completion["object"] == "chat.completion", completion
        assert completion["choices"][0]["message"]["content"]
    spans: list[Any] = []
    deadline = time.monotonic() + 30  # the callback flushes about once a second
    while not spans and time.monotonic() < deadline:
        time.sleep(0.5)
        spans = _json_of(spans_call)["spans"]
    assert spans, "the gateway call's session has no span at the receiver"

    key_file = run.run_dir / "litellm-master-key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    master_key = key_file.read_text().strip()
    redis_password = re.findall(
        r"^requirepass (\S+)$", (run.run_dir / "redis.conf").read_text(), re.M
    )
    for secret in (master_key, *redis_password):
        assert secret not in run.dev.output


def _json_of(command: str) -> Any:
    result = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_sigint_stops_every_process_within_10_s_and_leaves_no_port(run: Run) -> None:
    pids = run.dev.pids()
    ports = {**run.ports, "redis": run.redis_port}
    stopped = run.dev.stop(signal.SIGINT)
    assert_stopped_cleanly(run.dev, stopped, pids, ports)
    assert run.other_redis.running, "the other owner's Redis is not the stack's to stop"


def test_taken_ports_are_named_before_anything_starts(tmp_path: Path) -> None:
    """Two of the ports are held (by this test): one line each, naming the port, its
    process and the way to choose another; nothing is started."""
    ports = free_ports()
    with socket.socket() as gateway, socket.socket() as litellm:
        for sock, name in ((gateway, "gateway"), (litellm, "litellm")):
            sock.bind(("127.0.0.1", ports[name]))
            sock.listen()
        dev = DevRun(["--ports", port_spec(ports)], stack_env(tmp_path))
        try:
            code = dev.popen.wait(timeout=300)
        finally:
            dev.kill_what_is_left()
        dev._reader.join(timeout=5)
    assert code == 1, dev.output
    problems = [line for line in dev.lines if line.startswith("devstack: ")]
    assert [line.split(" is taken by ")[0] for line in problems] == [
        f"devstack: port {ports['gateway']} (gateway)",
        f"devstack: port {ports['litellm']} (litellm)",
    ], dev.output
    for line, name in zip(problems, ("gateway", "litellm"), strict=True):
        assert f" is taken by PID {os.getpid()} (" in line
        assert line.endswith(
            f"choose another with --ports {name}=PORT, or move every port with --port-offset N"
        )
    assert "Starting " not in dev.output
    assert "Traceback" not in dev.output
    assert not list(tmp_path.glob("*.log")), "a process was started"
    # A stack already running in this run directory keeps its master key file.
    assert not (tmp_path / "litellm-master-key").exists()
