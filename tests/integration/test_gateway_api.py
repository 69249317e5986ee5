"""The gateway's API against the real LiteLLM, the emulator and a real Redis: who may call,
what is checked, what is forwarded, what Langfuse learns, what is logged."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import openai
import pytest

from devstack.langfuse_receiver import ReceiverClient
from devstack.stack import LocalStack
from tests.integration.conftest import CLIENTS
from tests.integration.gateway_calls import auth, chat_body, metric_value, post_chat

pytestmark = pytest.mark.integration

FULL = CLIENTS["full"]


def access_log_line(stack: LocalStack, request_id: str, timeout_s: float = 5.0) -> dict[str, Any]:
    """The gateway's access-log line of one request (written just after the answer's last byte)."""
    deadline = time.monotonic() + timeout_s
    while True:
        log = stack.processes["gateway"].log_path.read_text().splitlines()
        lines: list[dict[str, Any]] = [
            json.loads(line) for line in log if f'"request_id":"{request_id}"' in line
        ]
        if lines or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    (line,) = lines
    record: dict[str, Any] = line
    return record


def assert_openai_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code
    assert error["message"]


def test_health_and_readiness(stack: LocalStack) -> None:
    assert httpx.get(f"{stack.gateway_url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{stack.gateway_url}/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "litellm": "up", "redis": "up"}


def test_openai_sdk_gets_answers_from_both_models(stack: LocalStack) -> None:
    sdk = openai.OpenAI(base_url=f"{stack.gateway_url}/v1", api_key=FULL.key, max_retries=0)
    for model, provider_model in (("claude-sonnet", "claude-sonnet-4"), ("groq-llama", "llama")):
        completion = sdk.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "Hello"}]
        )
        assert provider_model in (completion.choices[0].message.content or "")
        assert completion.usage is not None
        assert completion.usage.completion_tokens > 0
        chunks = list(sdk.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "Hello"}], stream=True
        ))  # fmt: skip
        streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert streamed == completion.choices[0].message.content


def test_models_lists_what_the_client_may_use(stack: LocalStack) -> None:
    def models(name: str) -> list[str]:
        response = httpx.get(f"{stack.gateway_url}/v1/models", headers=auth(CLIENTS[name]))
        return [m["id"] for m in response.json()["data"]]

    assert models("full") == ["claude-sonnet", "groq-llama"]
    assert models("claude_only") == ["claude-sonnet"]
    assert httpx.get(f"{stack.gateway_url}/v1/models").status_code == 401


def test_a_model_is_retrieved_only_by_a_client_that_may_use_it(stack: LocalStack) -> None:
    """The SDK's models.retrieve (GET /v1/models/{id}); 404 as OpenAI answers an unknown one."""
    sdk = openai.OpenAI(base_url=f"{stack.gateway_url}/v1", api_key=FULL.key, max_retries=0)
    model = sdk.models.retrieve("groq-llama")
    assert (model.id, model.object, model.owned_by) == ("groq-llama", "model", "shared-ai-gateway")
    claude_only = openai.OpenAI(base_url=f"{stack.gateway_url}/v1",
                                api_key=CLIENTS["claude_only"].key, max_retries=0)  # fmt: skip
    for client, name in ((claude_only, "groq-llama"), (sdk, "no-such-model")):
        with pytest.raises(openai.NotFoundError) as raised:
            client.models.retrieve(name)
        assert raised.value.code == "model_not_found"
        assert name in raised.value.message
    response = httpx.get(f"{stack.gateway_url}/v1/models/groq-llama")
    assert_openai_error(response, 401, "invalid_api_key")


def test_the_key_may_come_as_x_api_key(stack: LocalStack) -> None:
    """Anthropic's SDK sends `x-api-key`; it is accepted beside `Authorization: Bearer`."""
    response = post_chat(
        stack, None, chat_body("groq-llama", "hi"), headers={"x-api-key": FULL.key}
    )
    assert response.status_code == 200, response.text
    wrong = post_chat(stack, None, chat_body("groq-llama", "hi"), headers={"x-api-key": "sk-gw-x"})
    assert_openai_error(wrong, 401, "invalid_api_key")


@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Bearer sk-gw-wrong", "Basic abc", f"Token {FULL.key}"]
)
def test_missing_or_wrong_key_is_401(stack: LocalStack, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = post_chat(stack, None, chat_body("claude-sonnet", "hi"), headers=headers)
    assert_openai_error(response, 401, "invalid_api_key")
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_model_the_client_may_not_use_is_403(stack: LocalStack) -> None:
    response = post_chat(stack, CLIENTS["claude_only"], chat_body("groq-llama", "hi"))
    assert_openai_error(response, 403, "model_not_allowed")
    assert response.json()["error"]["param"] == "model"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
        ({"model": "claude-sonnet"}, "messages"),
        ({"model": "claude-sonnet", "messages": []}, "messages"),
        ({"model": "claude-sonnet", "messages": ["hi"]}, "messages[0]"),
        ({"model": "claude-sonnet", "messages": [{"role": "robot"}]}, "messages[0].role"),
        (
            {
                "model": "claude-sonnet",
                "messages": [{"role": "user", "content": "x"}],
                "stream": "yes",
            },
            "stream",
        ),
        (["not", "an", "object"], None),
    ],
)
def test_not_a_chat_completion_is_400_naming_the_problem(
    stack: LocalStack, body: object, param: str | None
) -> None:
    response = post_chat(stack, FULL, body)
    assert_openai_error(response, 400, "invalid_request")
    assert response.json()["error"]["param"] == param


def test_invalid_json_wrong_content_type_and_oversized_body(stack: LocalStack) -> None:
    url = f"{stack.gateway_url}/v1/chat/completions"
    headers = auth(FULL, **{"Content-Type": "application/json"})
    assert_openai_error(httpx.post(url, content=b"{nope", headers=headers), 400, "invalid_json")
    text = auth(FULL, **{"Content-Type": "text/plain"})
    assert_openai_error(httpx.post(url, content=b"{}", headers=text), 415, "unsupported_media_type")
    big = json.dumps(chat_body("claude-sonnet", "x" * (1024 * 1024 + 1))).encode()
    assert_openai_error(httpx.post(url, content=big, headers=headers), 413, "request_too_large")


def test_request_id_is_echoed_or_generated_and_overhead_reported(stack: LocalStack) -> None:
    mine = f"req-{uuid.uuid4()}"
    response = post_chat(stack, FULL, chat_body("groq-llama", "hi"), headers={"X-Request-Id": mine})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == mine
    assert float(response.headers["x-gateway-overhead-ms"]) >= 0
    generated = post_chat(stack, FULL, chat_body("groq-llama", "hi")).headers["x-request-id"]
    assert len(generated) == 32
    assert generated != mine
    error = post_chat(stack, None, chat_body("groq-llama", "hi"), headers={"X-Request-Id": mine})
    assert error.headers["x-request-id"] == mine


def test_steering_fields_are_dropped_and_openai_fields_pass(stack: LocalStack) -> None:
    body = chat_body(
        "claude-sonnet", "Who answers?",
        api_base="http://127.0.0.1:9/evil", base_url="http://127.0.0.1:9", api_key="sk-x",
        mock_response="mocked!", fallbacks=["groq-llama"], langfuse_host="http://127.0.0.1:9",
        temperature=0.1, seed=7,
    )  # fmt: skip
    response = post_chat(stack, FULL, body)
    assert response.status_code == 200, response.text
    # Answered by the emulator behind LiteLLM: not mocked, not redirected.
    assert response.json()["choices"][0]["message"]["content"].startswith("Emulated reply")
    dropped = response.headers["x-gateway-dropped-fields"].split(",")
    # The gateway's own drops, and `seed`, which LiteLLM drops for Anthropic.
    assert dropped == sorted(
        ["api_base", "base_url", "api_key", "mock_response", "fallbacks", "langfuse_host", "seed"]
    )


def test_langfuse_sees_the_session_user_and_client_the_gateway_attached(
    stack: LocalStack,
) -> None:
    session = f"gw-session-{uuid.uuid4()}"
    body = chat_body(
        "groq-llama", "Trace me.",
        metadata={"session_id": "someone-elses-session", "tags": ["client:admin"]},
    )  # fmt: skip
    headers = {"X-Session-Id": session, "X-User-Id": "user-7", "X-Request-Id": "trace-req-1"}
    assert post_chat(stack, FULL, body, headers=headers).status_code == 200

    (span,) = ReceiverClient(stack.receiver_url).wait_for_spans(
        attribute="session.id", value=session, timeout=30
    )
    attributes = span["attributes"]
    assert attributes["user.id"] == "user-7"
    assert "client:test-full" in attributes["langfuse.trace.tags"]
    assert "client:admin" not in attributes["langfuse.trace.tags"]
    assert attributes["langfuse.trace.name"] == "gateway/test-full"
    trace_metadata = {
        key.removeprefix("langfuse.trace.metadata."): value
        for key, value in attributes.items()
        if key.startswith("langfuse.trace.metadata.")
    }
    assert trace_metadata == {
        "client": "test-full", "request_id": "trace-req-1", "model": "groq-llama",
        "api": "chat.completions",
    }  # fmt: skip
    assert "someone-elses-session" not in json.dumps(span)


def test_user_falls_back_to_the_body_user(stack: LocalStack) -> None:
    session = f"gw-session-{uuid.uuid4()}"
    body = chat_body("claude-sonnet", "Who am I?", user="body-user-3")
    assert post_chat(stack, FULL, body, headers={"X-Session-Id": session}).status_code == 200
    (span,) = ReceiverClient(stack.receiver_url).wait_for_spans(
        attribute="session.id", value=session, timeout=30
    )
    assert span["attributes"]["user.id"] == "body-user-3"


def test_metrics_count_requests_by_client_model_and_status(stack: LocalStack) -> None:
    labels = {"client": "test-full", "model": "groq-llama", "status": "200"}
    before = metric_value(stack, "gateway_requests_total", **labels)
    assert post_chat(stack, FULL, chat_body("groq-llama", "count me")).status_code == 200
    assert metric_value(stack, "gateway_requests_total", **labels) == before + 1
    text = httpx.get(f"{stack.gateway_url}/metrics").text
    for name in (
        "gateway_overhead_seconds_bucket",
        "gateway_upstream_duration_seconds_bucket",
        "gateway_requests_in_flight",
        "gateway_request_duration_seconds_bucket",
    ):
        assert name in text


def test_access_log_has_one_line_per_request_and_no_prompt_or_key(stack: LocalStack) -> None:
    secret_prompt = f"confidential-{uuid.uuid4()}"
    request_id = f"log-{uuid.uuid4()}"
    response = post_chat(
        stack, FULL, chat_body("claude-sonnet", secret_prompt), headers={"X-Request-Id": request_id}
    )
    assert response.status_code == 200
    record = access_log_line(stack, request_id)
    log = stack.processes["gateway"].log_path.read_text()
    assert record["client"] == "test-full"
    assert record["status"] == 200
    assert record["prompt_tokens"] > 0
    assert record["completion_tokens"] > 0
    assert record["upstream_ms"] > 0
    assert record["overhead_ms"] >= 0
    assert (record["api"], record["attempts"], record["tokens_estimated"]) == (
        "chat.completions", 1, False)  # fmt: skip
    assert secret_prompt not in log
    for client in CLIENTS.values():
        assert client.key not in log
    assert stack.secrets.litellm_master_key not in log
