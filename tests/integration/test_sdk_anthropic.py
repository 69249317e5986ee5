"""The official Anthropic SDK (locks/dev.txt) against the gateway, as Claude's callers use it:
messages, streaming, tool use, token counting, models, and every error class it raises, for
both models (Groq's through LiteLLM's translation of the Messages API)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import anthropic
import httpx
import pytest

from devstack.langfuse_receiver import ReceiverClient
from devstack.stack import GatewayClient, LocalStack
from tests.integration.conftest import CLIENTS
from tests.integration.gateway_calls import emulator_stats
from tests.integration.litellm_calls import PROVIDER_MODEL
from tests.integration.test_gateway_api import access_log_line

pytestmark = pytest.mark.integration

FULL = CLIENTS["full"]
MODELS = list(PROVIDER_MODEL)
WEATHER: Any = {"name": "get_weather", "description": "The weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]}}  # fmt: skip


def sdk(stack: LocalStack, client: GatewayClient = FULL, **options: Any) -> anthropic.Anthropic:
    """The SDK with its defaults (two retries): the gateway must keep them from multiplying."""
    return anthropic.Anthropic(base_url=stack.gateway_url, api_key=client.key, timeout=60,
                               **options)  # fmt: skip


def ask(content: str) -> list[Any]:
    return [{"role": "user", "content": content}]


@pytest.mark.parametrize("model", MODELS)
def test_messages_from_both_models(stack: LocalStack, model: str) -> None:
    message = sdk(stack).messages.create(
        model=model, max_tokens=256, system="Answer briefly.", messages=ask("Hello Claude"),
        metadata={"user_id": "end-user-1"},
    )  # fmt: skip
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.stop_reason == "end_turn"
    text = message.content[0]
    assert isinstance(text, anthropic.types.TextBlock)
    assert text.text.startswith(f"Emulated reply from {PROVIDER_MODEL[model]}.")
    assert message.usage.input_tokens > 0
    assert message.usage.output_tokens > 0
    assert message._request_id is not None
    record = access_log_line(stack, message._request_id)
    assert (record["api"], record["model"], record["status"]) == ("messages", model, 200)
    assert record["completion_tokens"] == message.usage.output_tokens


@pytest.mark.parametrize("model", MODELS)
def test_a_stream_is_the_same_answer_event_by_event(stack: LocalStack, model: str) -> None:
    client = sdk(stack)
    whole = client.messages.create(model=model, max_tokens=256, messages=ask("Stream to me"))
    with client.messages.stream(model=model, max_tokens=256, messages=ask("Stream to me")) as s:
        pieces = list(s.text_stream)
        final = s.get_final_message()
    assert len(pieces) > 5
    first = whole.content[0]
    assert isinstance(first, anthropic.types.TextBlock)
    assert "".join(pieces) == first.text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == whole.usage.output_tokens


@pytest.mark.parametrize("model", MODELS)
def test_tool_use_round_trip(stack: LocalStack, model: str) -> None:
    client = sdk(stack)
    messages: list[Any] = ask("What is the weather in Paris?")
    first = client.messages.create(model=model, max_tokens=256, messages=messages,
                                   tools=[WEATHER])  # fmt: skip
    assert first.stop_reason == "tool_use"
    (call,) = [block for block in first.content if isinstance(block, anthropic.types.ToolUseBlock)]
    assert call.name == "get_weather"
    assert call.input == {"city": "emulated city"}
    messages += [
        {"role": "assistant", "content": [block.model_dump() for block in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                      "content": "21 degrees and sunny"}]},
    ]  # fmt: skip
    second = client.messages.create(model=model, max_tokens=256, messages=messages,
                                    tools=[WEATHER])  # fmt: skip
    answer = second.content[0]
    assert isinstance(answer, anthropic.types.TextBlock)
    assert "Tool get_weather returned: 21 degrees and sunny" in answer.text


def test_models_are_listed_and_retrieved(stack: LocalStack) -> None:
    client = sdk(stack)
    assert [model.id for model in client.models.list()] == MODELS
    model = client.models.retrieve("claude-sonnet")
    assert (model.id, model.type) == ("claude-sonnet", "model")
    with pytest.raises(anthropic.NotFoundError) as raised:
        sdk(stack, CLIENTS["claude_only"]).models.retrieve("groq-llama")
    assert raised.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


def test_tokens_are_counted(stack: LocalStack) -> None:
    """LiteLLM counts Groq's locally; Claude's it asks Anthropic for, which the provider
    emulator does not serve (`/v1/messages/count_tokens`): not tested here."""
    counted = sdk(stack).messages.count_tokens(
        model="groq-llama", messages=ask("How many tokens is this sentence?")
    )
    assert counted.input_tokens > 0


def expect_error(
    error_class: type[anthropic.APIStatusError], call: Any
) -> anthropic.APIStatusError:
    with pytest.raises(error_class) as raised:
        call()
    error = raised.value
    body = error.body
    assert isinstance(body, dict)
    assert body["type"] == "error"
    assert set(body["error"]) == {"type", "message"}
    assert "litellm" not in body["error"]["message"].lower()
    assert error.request_id == body["request_id"]
    return error


def test_errors_the_gateway_answers_are_the_sdks_classes(stack: LocalStack) -> None:
    wrong = sdk(stack, GatewayClient("nobody"))
    error = expect_error(anthropic.AuthenticationError, lambda: wrong.messages.create(
        model="claude-sonnet", max_tokens=16, messages=ask("hi")))  # fmt: skip
    assert error.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    claude_only = sdk(stack, CLIENTS["claude_only"])
    error = expect_error(anthropic.PermissionDeniedError, lambda: claude_only.messages.create(
        model="groq-llama", max_tokens=16, messages=ask("hi")))  # fmt: skip
    assert "groq-llama" in error.message
    error = expect_error(anthropic.BadRequestError, lambda: sdk(stack).messages.create(
        model="claude-sonnet", max_tokens=16, messages=[]))  # fmt: skip
    assert "`messages`" in error.message
    bad = httpx.post(
        f"{stack.gateway_url}/v1/messages",
        headers={"x-api-key": FULL.key},
        json={"model": "claude-sonnet", "max_tokens": 16, "messages": ask("hi")},
    )
    assert bad.status_code == 400
    assert "anthropic-version" in bad.json()["error"]["message"]


@pytest.mark.parametrize(
    ("directive", "error_class", "status"),
    [("status=429", anthropic.RateLimitError, 429),
     ("status=500", anthropic.InternalServerError, 500),
     ("status=529", anthropic.OverloadedError, 529)],
)  # fmt: skip
def test_a_refusing_provider_costs_two_calls_whatever_the_sdk_retries(
    stack: LocalStack, directive: str, error_class: type[anthropic.APIStatusError], status: int
) -> None:
    """The gateway retries once (gateway/retry.py) and says x-should-retry: false, so the SDK's
    own two retries do not multiply it: before, each SDK attempt cost LiteLLM's two."""
    before = emulator_stats(stack)["requests"]
    started = time.monotonic()
    error = expect_error(
        error_class,
        lambda: sdk(stack).messages.create(
            model="claude-sonnet", max_tokens=16, messages=ask(f"Refuse. [[emulator:{directive}]]")
        ),
    )
    elapsed = time.monotonic() - started
    assert error.status_code == status
    assert emulator_stats(stack)["requests"] - before == 2
    assert elapsed < 3.0  # 1 s Retry-After (429) or 0.5 s back-off, plus two quick attempts
    assert error.response.headers["x-should-retry"] == "false"
    assert error.response.headers["x-gateway-error-source"] == "upstream"
    assert "emulated" in error.message.lower() or "overloaded" in error.message.lower()


def test_a_stream_that_breaks_raises_in_the_sdk(stack: LocalStack) -> None:
    received: list[str] = []

    def read_all() -> None:
        request = ask("Break. [[emulator:reset_after=3]]")
        with sdk(stack).messages.stream(model="groq-llama", max_tokens=256, messages=request) as s:
            received.extend(s.text_stream)

    with pytest.raises(anthropic.APIStatusError) as raised:
        read_all()
    assert len(received) == 3  # the deltas before the reset
    assert "broke off" in str(raised.value)
    assert "litellm" not in str(raised.value).lower()


def test_a_messages_call_is_traced_like_a_chat_completion(stack: LocalStack) -> None:
    session = f"sdk-session-{uuid.uuid4()}"
    client = sdk(stack, default_headers={"X-Session-Id": session, "X-User-Id": "user-3"})
    message = client.messages.create(model="claude-sonnet", max_tokens=64, messages=ask("Trace"))
    (span,) = ReceiverClient(stack.receiver_url).wait_for_spans(
        attribute="session.id", value=session, timeout=30
    )
    attributes = span["attributes"]
    assert attributes["user.id"] == "user-3"
    assert attributes["langfuse.trace.name"] == "gateway/test-full"
    assert attributes["langfuse.trace.metadata.api"] == "messages"
    assert attributes["langfuse.trace.metadata.request_id"] == message._request_id
    usage = attributes["langfuse.observation.usage_details"]
    assert f'"output": {message.usage.output_tokens}' in usage
