"""Per-client rate limits in a real Redis: exact under concurrency, tokens counted, and a
Redis outage changes no response."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis
from gateway.ratelimit import tokens_key

from devstack.stack import LocalStack
from tests.integration.conftest import CLIENTS
from tests.integration.gateway_calls import auth, chat_body, metric_value, post_chat
from tests.integration.test_gateway_api import access_log_line

pytestmark = pytest.mark.integration


def test_concurrent_requests_let_exactly_the_limit_through(stack: LocalStack) -> None:
    limited = CLIENTS["limited"]
    assert limited.requests_per_minute == 5
    with ThreadPoolExecutor(max_workers=12) as pool:
        responses = list(pool.map(
            lambda _: post_chat(stack, limited, chat_body("groq-llama", "hi")), range(12)
        ))  # fmt: skip
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 5 + [429] * 7

    refused = next(r for r in responses if r.status_code == 429)
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["x-ratelimit-limit-requests"] == "5"
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    allowed = [r for r in responses if r.status_code == 200]
    remaining = sorted(int(r.headers["x-ratelimit-remaining-requests"]) for r in allowed)
    assert remaining == [0, 1, 2, 3, 4]
    assert (
        metric_value(stack, "gateway_rate_limited_total", client="test-limited", limit="requests")
        == 7
    )


def test_tokens_per_minute_refuse_once_the_window_is_used_up(stack: LocalStack) -> None:
    """Usage is known only after an answer: a request passes while the minute's total so
    far is under the limit, and is refused once it has reached it."""
    tokens = CLIENTS["tokens"]
    limit = tokens.tokens_per_minute
    assert limit == 60
    used, outcomes = 0, []
    for _ in range(5):  # about 26 tokens each
        response = post_chat(stack, tokens, chat_body("claude-sonnet", "hi"))
        outcomes.append((used, response.status_code))
        if response.status_code == 200:
            used += response.json()["usage"]["total_tokens"]
        time.sleep(0.3)  # token usage is recorded just after each answer
    assert outcomes == [(u, 200 if u < limit else 429) for u, _ in outcomes]
    assert outcomes[-1][1] == 429
    refused = post_chat(stack, tokens, chat_body("claude-sonnet", "hi"))
    assert refused.headers["x-ratelimit-limit-tokens"] == "60"
    assert "retry-after" in refused.headers


def test_redis_stopped_mid_run_changes_no_response(stack: LocalStack) -> None:
    generous = CLIENTS["generous"]
    body = chat_body("groq-llama", "Same answer with or without Redis.")
    before = post_chat(stack, generous, body)
    assert before.status_code == 200
    assert "x-ratelimit-remaining-requests" in before.headers
    unavailable_before = metric_value(stack, "gateway_rate_limiter_unavailable_total")
    log_before = stack.processes["gateway"].log_path.read_text().count("redis unreachable")

    redis = stack.processes["redis"]
    redis.stop()
    try:
        during = [post_chat(stack, generous, body) for _ in range(5)]
        ready = httpx.get(f"{stack.gateway_url}/readyz")
    finally:
        redis.start(ready_timeout=10)

    assert [r.status_code for r in during] == [200] * 5
    answer = before.json()["choices"][0]["message"]["content"]
    assert {r.json()["choices"][0]["message"]["content"] for r in during} == {answer}
    assert ready.status_code == 200  # a Redis outage does not take the gateway out of service
    assert metric_value(stack, "gateway_rate_limiter_unavailable_total") >= unavailable_before + 5
    # Logged once per interval (an hour in this run), not once per request.
    log_after = stack.processes["gateway"].log_path.read_text().count("redis unreachable")
    assert log_after - log_before == 1

    # Once Redis is back, limits apply again (after the one-second back-off).
    time.sleep(1.2)
    assert "x-ratelimit-remaining-requests" in post_chat(stack, generous, body).headers


@pytest.fixture
def fresh_token_window(stack: LocalStack) -> Iterator[redis.Redis]:
    """The tokens client's one-minute window emptied before and after (tests share the client)."""
    client = redis.Redis(host="127.0.0.1", port=stack.ports.redis,
                         password=stack.secrets.redis_password)  # fmt: skip
    key = tokens_key(CLIENTS["tokens"].name)
    client.delete(key)
    yield client
    client.delete(key)
    client.close()


def _stream(stack: LocalStack, api: str) -> httpx.Response:
    """A whole stream, the caller not asking for its usage."""
    client = CLIENTS["tokens"]
    if api == "chat":
        url, headers = "/v1/chat/completions", auth(client)
        body = chat_body("claude-sonnet", "hi", stream=True)
    else:
        url, headers = "/v1/messages", {"x-api-key": client.key, "anthropic-version": "2023-06-01"}
        body = {"model": "groq-llama", "max_tokens": 256, "stream": True,
                "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip
    with httpx.stream("POST", f"{stack.gateway_url}{url}", json=body, headers=headers,
                      timeout=30) as response:  # fmt: skip
        response.read()
    return response


def test_streams_are_refused_by_tokens_per_minute_as_whole_answers(
    stack: LocalStack, fresh_token_window: redis.Redis
) -> None:
    """Before, a stream without include_usage counted 0 tokens: a client limited to 60 a
    minute streamed 8 answers of ~30 tokens unrefused. Now every stream is counted."""
    window = tokens_key(CLIENTS["tokens"].name)
    limit, used, outcomes = 60, 0, []
    for api in ("chat", "messages", "chat", "messages", "chat"):
        response = _stream(stack, api)
        outcomes.append((used, response.status_code))
        time.sleep(0.3)  # token usage is recorded just after each answer
        counted = int(fresh_token_window.get(window) or 0)
        if response.status_code == 200:
            assert counted > used, f"the {api} stream was not counted"
            record = access_log_line(stack, response.headers["x-request-id"])
            assert counted - used == record["prompt_tokens"] + record["completion_tokens"]
            assert record["tokens_estimated"] is False  # the stream's own usage
        used = counted
    assert outcomes == [(u, 200 if u < limit else 429) for u, _ in outcomes]
    assert [status for _, status in outcomes].count(200) == 3
