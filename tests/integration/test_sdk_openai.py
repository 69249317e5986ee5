"""The official OpenAI SDK (locks/dev.txt) against the gateway, with its defaults (two retries):
models, chat sync and async, streams with and without usage, request ids, the error classes
it raises, and what a refusing provider costs."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import openai
import pytest

from devstack.stack import GatewayClient, LocalStack
from tests.integration.conftest import CLIENTS
from tests.integration.gateway_calls import emulator_stats, metric_value
from tests.integration.litellm_calls import PROVIDER_MODEL
from tests.integration.test_gateway_api import access_log_line

pytestmark = pytest.mark.integration

FULL = CLIENTS["full"]
MODELS = list(PROVIDER_MODEL)


def sdk(stack: LocalStack, client: GatewayClient = FULL) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{stack.gateway_url}/v1", api_key=client.key, timeout=60)


def test_models_are_listed_and_retrieved(stack: LocalStack) -> None:
    client = sdk(stack)
    assert [model.id for model in client.models.list()] == MODELS
    assert client.models.retrieve("claude-sonnet").id == "claude-sonnet"


def test_async_chat_and_the_request_id(stack: LocalStack) -> None:
    async def both() -> list[openai.types.chat.ChatCompletion]:
        async with openai.AsyncOpenAI(base_url=f"{stack.gateway_url}/v1", api_key=FULL.key) as c:
            calls = [c.chat.completions.create(model=model, messages=[
                {"role": "user", "content": "Hello"}]) for model in MODELS]  # fmt: skip
            return list(await asyncio.gather(*calls))

    for model, completion in zip(MODELS, asyncio.run(both()), strict=True):
        assert completion.model == model
        assert (completion.choices[0].message.content or "").startswith(
            f"Emulated reply from {PROVIDER_MODEL[model]}."
        )
        assert completion._request_id is not None
        assert access_log_line(stack, completion._request_id)["status"] == 200


@pytest.mark.parametrize("model", MODELS)
def test_the_usage_chunk_comes_only_when_asked_for_yet_every_stream_is_counted(
    stack: LocalStack, model: str
) -> None:
    client = sdk(stack)
    messages: Any = [{"role": "user", "content": "Count my tokens"}]
    labels = {"client": FULL.name, "kind": "completion", "model": model}  # as exposed
    counted_before = metric_value(stack, "gateway_tokens_total", **labels)
    asked = list(client.chat.completions.create(
        model=model, messages=messages, stream=True, stream_options={"include_usage": True},
    ))  # fmt: skip
    usage = asked[-1].usage
    assert usage is not None
    assert asked[-1].choices == []
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=messages, stream=True
    )
    request_id = raw.headers["x-request-id"]
    plain = list(raw.parse())
    assert all(chunk.usage is None and chunk.choices for chunk in plain)
    assert len(plain) == len(asked) - 1
    # Counted all the same: the gateway asked LiteLLM for the usage, and logged it.
    record = access_log_line(stack, request_id)
    assert (record["prompt_tokens"], record["completion_tokens"]) == (
        usage.prompt_tokens, usage.completion_tokens)  # fmt: skip
    assert record["tokens_estimated"] is False
    # And in the metrics: both streams' completion tokens.
    counted = metric_value(stack, "gateway_tokens_total", **labels) - counted_before
    assert counted == 2 * usage.completion_tokens


def test_errors_the_gateway_answers_are_the_sdks_classes(stack: LocalStack) -> None:
    with pytest.raises(openai.AuthenticationError):
        sdk(stack, GatewayClient("nobody")).models.list()
    with pytest.raises(openai.PermissionDeniedError) as denied:
        sdk(stack, CLIENTS["claude_only"]).chat.completions.create(
            model="groq-llama", messages=[{"role": "user", "content": "hi"}]
        )
    assert denied.value.code == "model_not_allowed"
    hot: Any = "hot"
    with pytest.raises(openai.BadRequestError) as bad:
        sdk(stack).chat.completions.create(
            model="groq-llama", messages=[{"role": "user", "content": "hi"}], temperature=hot
        )
    assert bad.value.param == "temperature"
    assert bad.value.request_id is not None


@pytest.mark.parametrize(
    ("directive", "error_class", "status"),
    [("status=429", openai.RateLimitError, 429),
     ("status=500", openai.InternalServerError, 500)],
)  # fmt: skip
@pytest.mark.parametrize("model", MODELS)
def test_a_refusing_provider_costs_two_calls_whatever_the_sdk_retries(
    stack: LocalStack, model: str, directive: str, error_class: type[openai.APIStatusError],
    status: int,
) -> None:  # fmt: skip
    """Before: LiteLLM's two attempts times the SDK's three, 6 provider calls, and a 429 with
    Retry-After 2 took 18.75 s. Now the gateway's one retry and x-should-retry: false."""
    before = emulator_stats(stack)["requests"]
    started = time.monotonic()
    with pytest.raises(error_class) as raised:
        sdk(stack).chat.completions.create(
            model=model, messages=[{"role": "user", "content": f"[[emulator:{directive}]]"}]
        )
    elapsed = time.monotonic() - started
    error = raised.value
    assert error.status_code == status
    assert emulator_stats(stack)["requests"] - before == 2
    assert elapsed < 3.0  # the provider's 1 s Retry-After (429) or 0.5 s, plus two attempts
    assert error.response.headers["x-should-retry"] == "false"
    message = error.message.lower()
    assert "emulated" in message
    assert "litellm" not in message
    assert "fallback" not in message
    if status == 429:
        assert error.response.headers["retry-after"] == "1"


def test_a_long_retry_after_is_passed_on_at_once(stack: LocalStack) -> None:
    """A provider asking for more than the gateway waits (4 s) gets its answer passed on at
    once, with its Retry-After: the caller decides."""
    before = emulator_stats(stack)["requests"]
    started = time.monotonic()
    with pytest.raises(openai.RateLimitError) as raised:
        sdk(stack).chat.completions.create(
            model="groq-llama",
            messages=[{"role": "user", "content": "[[emulator:status=429,retry_after=30]]"}],
        )
    assert time.monotonic() - started < 1.5
    assert emulator_stats(stack)["requests"] - before == 1
    assert raised.value.response.headers["retry-after"] == "30"
