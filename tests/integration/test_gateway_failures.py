"""What a caller gets when something behind the gateway fails, and how fast."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from devstack.processes import ManagedProcess, free_port
from devstack.stack import LocalStack
from tests.integration.conftest import CLIENTS
from tests.integration.gateway_calls import auth, chat_body, post_chat

pytestmark = pytest.mark.integration

FULL = CLIENTS["full"]
GatewayFactory = Callable[..., tuple[ManagedProcess, str]]


@pytest.fixture
def extra_gateway(stack: LocalStack) -> Iterator[GatewayFactory]:
    """A second gateway process with some settings changed; stopped after the test."""
    started: list[ManagedProcess] = []

    def start(**env: str) -> tuple[ManagedProcess, str]:
        process, port = stack.spare_gateway_process(**env)
        process.start(ready_timeout=20)
        started.append(process)
        return process, f"http://127.0.0.1:{port}"

    yield start
    for process in started:
        process.stop()


@pytest.mark.parametrize(
    ("provider_status", "status"),
    # LiteLLM reports Anthropic's 529 "overloaded" as 503 (code server_is_overloaded).
    [(400, 400), (500, 500), (529, 503)],
    ids=["provider-400", "provider-500", "provider-529"],
)
def test_upstream_errors_reach_the_caller_in_openai_shape(
    stack: LocalStack, provider_status: int, status: int
) -> None:
    body = chat_body("claude-sonnet", f"[[emulator:status={provider_status}]]")
    response = post_chat(stack, FULL, body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    # The provider's own message, without LiteLLM's wrapping ("litellm.InternalServerError:
    # ... AnthropicException - {...} ... No fallback was attempted.").
    assert error["message"].startswith("Anthropic: ")
    assert "emulated" in error["message"].lower()
    assert "litellm" not in error["message"].lower()
    assert "fallback" not in error["message"]
    assert set(error) == {"message", "type", "param", "code"}
    assert response.headers["x-gateway-error-source"] == "upstream"
    assert response.headers["x-should-retry"] == "false"


def test_upstream_429_is_429_with_retry_after(stack: LocalStack) -> None:
    body = chat_body("groq-llama", "[[emulator:status=429,retry_after=3]]")
    response = post_chat(stack, FULL, body)
    assert response.status_code == 429, response.text
    # The provider's own Retry-After reaches the caller (LiteLLM relays it as
    # llm_provider-retry-after).
    assert response.headers["retry-after"] == "3"
    assert "rate limit" in response.json()["error"]["message"].lower()


def test_litellm_unreachable_is_a_fast_503(extra_gateway: GatewayFactory) -> None:
    _, url = extra_gateway(GATEWAY_LITELLM_URL=f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    response = httpx.post(f"{url}/v1/chat/completions", json=chat_body("groq-llama", "hi"),
                          headers=auth(FULL), timeout=30)  # fmt: skip
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "upstream_unavailable"
    assert response.headers["retry-after"] == "1"
    assert time.monotonic() - started < 2.0
    # Readiness does not fail on a LiteLLM outage: one blip must not empty the Service.
    ready = httpx.get(f"{url}/readyz")
    assert ready.status_code == 200


def test_upstream_timeout_is_504(extra_gateway: GatewayFactory) -> None:
    _, url = extra_gateway(GATEWAY_UPSTREAM_TIMEOUT_S="1")
    body = chat_body("claude-sonnet", "Slow. [[emulator:latency_ms=4000]]")
    started = time.monotonic()
    response = httpx.post(f"{url}/v1/chat/completions", json=body, headers=auth(FULL),
                          timeout=30)  # fmt: skip
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"
    assert 1.0 <= time.monotonic() - started < 3.0


def test_sigterm_lets_in_flight_requests_finish_then_exits(
    extra_gateway: GatewayFactory,
) -> None:
    process, url = extra_gateway()
    results: list[httpx.Response] = []
    body = chat_body("groq-llama", "Take your time. [[emulator:latency_ms=1500]]")
    caller = threading.Thread(target=lambda: results.append(httpx.post(
        f"{url}/v1/chat/completions", json=body, headers=auth(FULL), timeout=30
    )))  # fmt: skip
    caller.start()
    time.sleep(0.5)  # the request is in flight, waiting for the provider
    stopping = time.monotonic()
    exit_code = process.stop(timeout=25)
    caller.join(timeout=10)
    assert [r.status_code for r in results] == [200]
    # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly; a SIGKILL
    # (-9) would mean the drain did not finish within the bound.
    assert exit_code in (0, -signal.SIGTERM)
    assert time.monotonic() - stopping < 20
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/healthz", timeout=2)
