"""One local stack for the whole integration run: real LiteLLM, real Redis, the gateway,
and the stand-ins.

LiteLLM runs under strace (connect() calls only, filtered in the kernel with seccomp-bpf,
so it costs almost nothing) so that a test can prove it never dials out.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.stack import GatewayClient, LocalStack, StackPorts

# The gateway's clients in the test run, each with the models and limits a test needs.
CLIENTS = {
    "full": GatewayClient("test-full"),
    "claude_only": GatewayClient("test-claude-only", models=("claude-sonnet",)),
    "limited": GatewayClient("test-limited", requests_per_minute=5),
    # Below the take-ahead threshold (1,000 a minute): every request of it asks Redis.
    "generous": GatewayClient("test-generous", requests_per_minute=999),
    "tokens": GatewayClient("test-tokens", tokens_per_minute=60),
}
STREAM_IDLE_TIMEOUT_S = 2


@pytest.fixture(scope="session")
def connect_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("strace") / "litellm-connect.trace"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, connect_trace: Path) -> Iterator[LocalStack]:
    strace = shutil.which("strace")
    if strace is None:
        pytest.fail("strace is not installed (Debian: apt-get install strace); see README.md")
    local = LocalStack(
        run_dir=tmp_path_factory.mktemp("stack"),
        ports=StackPorts.free(),
        litellm_argv_prefix=[
            strace, "-f", "--seccomp-bpf", "-qq", "-e", "trace=connect", "-e", "signal=none",
            "-o", str(connect_trace),
        ],
        gateway_clients=list(CLIENTS.values()),
        gateway_extra_env={
            "GATEWAY_STREAM_IDLE_TIMEOUT_S": str(STREAM_IDLE_TIMEOUT_S),
            "GATEWAY_HEALTH_PROBE_INTERVAL_S": "0.5",
            "GATEWAY_DEGRADED_LOG_INTERVAL_S": "3600",
        },
    )  # fmt: skip
    local.start()
    try:
        yield local
    finally:
        local.stop()
