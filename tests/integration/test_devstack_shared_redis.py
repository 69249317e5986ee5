"""`invoke dev` sharing a Redis you run yourself, given its password in
DEVSTACK_REDIS_PASSWORD; its ports come from DEVSTACK_PORTS. The last test stops it with
SIGTERM: the stack's processes go, the shared Redis stays."""

from __future__ import annotations

import secrets
import signal
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis

from devstack.processes import ManagedProcess
from tests.integration.devstack_run import (
    DevRun,
    assert_stopped_cleanly,
    chat,
    free_ports,
    http,
    mint,
    port_spec,
    redis_with_password,
    stack_env,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@dataclass
class SharedRun:
    dev: DevRun
    ports: dict[str, int]
    shared_redis: ManagedProcess
    password: str
    limited_key: str

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedRun]:
    run_dir = tmp_path_factory.mktemp("devstack-shared-redis")
    ports = free_ports()
    password = secrets.token_hex(16)
    limited_key = mint(run_dir, "test-shared", "--rpm", "7")
    with redis_with_password(run_dir, ports["redis"], password) as shared_redis:
        env = stack_env(run_dir, DEVSTACK_PORTS=port_spec(ports), DEVSTACK_REDIS_PASSWORD=password)
        dev = DevRun([], env)
        try:
            dev.wait_for_banner()
            yield SharedRun(dev, ports, shared_redis, password, limited_key)
        finally:
            dev.kill_what_is_left()


def test_a_redis_that_takes_the_run_password_is_shared(run: SharedRun) -> None:
    redis_row = next(line for line in run.dev.banner.splitlines() if line.startswith("  Redis"))
    assert f"127.0.0.1:{run.ports['redis']} " in redis_row
    assert (
        f"(reused: PID {run.shared_redis.pid} (redis-server 127.0.0.1:{run.ports['redis']}) "
        "accepts this run's password)"
    ) in redis_row
    assert "redis" not in run.dev.pids(), "a Redis was started"
    assert http("GET", f"{run.gateway_url}/readyz")[2]["redis"] == "up"
    assert "/readyz: litellm up, redis up" in run.dev.banner

    status, headers, _ = chat(run.gateway_url, run.limited_key)
    assert (status, headers["x-ratelimit-remaining-requests"]) == (200, "6")
    shared = redis.Redis(port=run.ports["redis"], password=run.password, socket_timeout=5)
    try:
        assert shared.dbsize() > 0, "the gateway's rate limits are not in the shared Redis"
    finally:
        shared.close()
    assert run.password not in run.dev.output


def test_sigterm_stops_the_stack_and_leaves_the_shared_redis_running(run: SharedRun) -> None:
    pids = run.dev.pids()
    stopped = run.dev.stop(signal.SIGTERM)
    ours = {name: port for name, port in run.ports.items() if name != "redis"}
    assert_stopped_cleanly(run.dev, stopped, pids, ours)
    assert run.shared_redis.running
    shared = redis.Redis(port=run.ports["redis"], password=run.password, socket_timeout=5)
    try:
        assert shared.ping()
    finally:
        shared.close()
