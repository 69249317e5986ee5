"""The reliability suite's own local stack, and what keeps the suite out of the default run.

The suite stops and starts processes, so it never shares the integration tests' stack: it
starts its own on free ports, once per run. It runs only when named, `pytest
tests/reliability` (or a path inside it; `nox -s reliability`): a plain `pytest` or
`pytest tests` skips the directory without collecting it, because a full run takes minutes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.langfuse_receiver import ReceiverClient
from devstack.stack import GatewayClient, LocalStack, StackPorts
from tests.reliability.chain import call, provider_idle, request_body, wait_until
from tests.reliability.report import Report, report_path

HERE = Path(__file__).resolve().parent

# Limits far above any load here, so Redis is on every request's path (a client without
# limits never touches Redis) without ever refusing one.
CLIENT = GatewayClient(
    "reliability", requests_per_minute=1_000_000, tokens_per_minute=1_000_000_000
)
# The stalled-stream fault waits this long; production's 60 s would make the row a minute.
STREAM_IDLE_TIMEOUT_S = 2

_REPORT = pytest.StashKey[Report]()


def _named_explicitly(config: pytest.Config) -> bool:
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        return False  # testpaths: a plain `pytest`
    base = config.invocation_params.dir
    for arg in config.args:
        path = (base / arg.split("::", 1)[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if HERE in collection_path.resolve().parents and not _named_explicitly(config):
        return True
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.reliability)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    local = LocalStack(
        run_dir=tmp_path_factory.mktemp("reliability-stack"),
        ports=StackPorts.free(),
        gateway_clients=[CLIENT],
        gateway_extra_env={
            "GATEWAY_STREAM_IDLE_TIMEOUT_S": str(STREAM_IDLE_TIMEOUT_S),
            # /readyz reflects a restarted dependency within half a second.
            "GATEWAY_HEALTH_PROBE_INTERVAL_S": "0.5",
        },
    )
    local.start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def report(request: pytest.FixtureRequest) -> Iterator[Report]:
    collected = Report()
    request.config.stash[_REPORT] = collected
    yield collected
    path = report_path()
    if path is not None:
        collected.write(path)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    collected = terminalreporter.config.stash.get(_REPORT, None)
    if collected is None:
        return
    terminalreporter.section("reliability")
    for line in collected.lines():
        terminalreporter.write_line(line)


def _ready(stack: LocalStack) -> bool:
    if not all(process.running for process in stack.processes.values()):
        return False
    try:
        state = httpx.get(f"{stack.gateway_url}/readyz", timeout=2).json()
    except httpx.HTTPError:
        return False
    return state.get("litellm") == "up" and state.get("redis") == "up" and provider_idle(stack)


@pytest.fixture(autouse=True)
def chain_ready(stack: LocalStack) -> None:
    """Every test starts from a healthy chain, whatever the test before it left behind."""
    ReceiverClient(stack.receiver_url).set_mode("normal")
    try:
        wait_until(lambda: _ready(stack), timeout_s=60, interval_s=0.2)
    except TimeoutError:
        tails = {name: p.log_tail(10) for name, p in stack.processes.items()}
        pytest.fail(f"the chain is not healthy before the test; logs: {tails}")
    deadline = time.monotonic() + 30
    while True:
        outcome = call(stack, CLIENT, request_body("groq-llama", "ready?", stream=False),
                       timeout_s=10)  # fmt: skip
        if outcome.shape == "completion":
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the chain does not answer before the test: {outcome.summary()}")
        time.sleep(0.5)
