"""A tool loop through the whole local chain: gateway -> LiteLLM -> provider emulator.

The caller is the openai SDK pointed at the gateway. The first call offers tools and gets a
tool call back; the caller runs the tool and sends its result; the second call answers
with text. For claude-sonnet LiteLLM translates both ways (OpenAI tool_calls <-> Anthropic
tool_use / tool_result); for groq-llama it passes the OpenAI shape on. Each call leaves one
Langfuse generation at the local OTLP receiver, and those carry the tool call and result.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion

from devstack.langfuse_receiver import ReceiverClient
from devstack.stack import LocalStack
from tests.integration.conftest import CLIENTS
from tests.integration.gateway_calls import emulator_stats, post_chat
from tests.integration.litellm_calls import PROVIDER_MODEL, new_session_id
from tests.integration.test_emulator_tools import (
    GROQ_TOOLS,
    RESULT,
    WEATHER_ARGS,
    compact,
    only_call,
)
from tests.integration.test_provider_emulator import tokens

pytestmark = pytest.mark.integration

FULL = CLIENTS["full"]
PROMPT = "What is the weather in Paris right now?"
# The emulator's usage for its tool call: the name's tokens plus the arguments' JSON text's.
CALL_TOKENS = tokens("get_weather", compact(WEATHER_ARGS))
PROVIDER_API = {"claude-sonnet": "anthropic", "groq-llama": "openai"}


@pytest.fixture(scope="module")
def receiver(stack: LocalStack) -> ReceiverClient:
    return ReceiverClient(stack.receiver_url)


def gateway_client(stack: LocalStack, session_id: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{stack.gateway_url}/v1", api_key=FULL.key, max_retries=0, timeout=60,
        default_headers={"X-Session-Id": session_id},
    )  # fmt: skip


def ask(client: openai.OpenAI, model: str, messages: list[Any], stream: bool) -> ChatCompletion:
    """One call, plain or streamed (then assembled by the SDK's own stream accumulator)."""
    if not stream:
        completion: ChatCompletion = client.chat.completions.create(
            model=model, messages=messages, tools=GROQ_TOOLS
        )
        return completion
    with client.chat.completions.stream(
        model=model, messages=messages, tools=GROQ_TOOLS, stream_options={"include_usage": True}
    ) as events:
        return events.get_final_completion()


def attribute(span: dict[str, Any], name: str) -> Any:
    value = span["attributes"][name]
    return json.loads(value) if isinstance(value, str) and value[:1] in '{["' else value


def provider_requests(stack: LocalStack) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = httpx.get(f"{stack.emulator_url}/_emulator/requests").json()
    return log


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("model", list(PROVIDER_MODEL))
def test_a_tool_loop_through_the_gateway(
    stack: LocalStack, receiver: ReceiverClient, model: str, stream: bool
) -> None:
    session = new_session_id()
    client = gateway_client(stack, session)
    messages: list[Any] = [{"role": "user", "content": PROMPT}]

    first = ask(client, model, messages, stream)
    assert first.choices[0].finish_reason == "tool_calls"
    tool_call = only_call(first.choices[0].message.tool_calls)
    assert tool_call.function.name == "get_weather"
    assert json.loads(tool_call.function.arguments) == WEATHER_ARGS
    assert first.usage is not None
    assert first.usage.completion_tokens == CALL_TOKENS  # the provider's count, passed on

    function = {"name": "get_weather", "arguments": tool_call.function.arguments}
    call = {"id": tool_call.id, "type": "function", "function": function}
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": tool_call.id, "content": RESULT},
    ]
    second = ask(client, model, messages, stream)
    assert second.choices[0].finish_reason == "stop"
    text = second.choices[0].message.content or ""
    # The emulator echoes the result it received: LiteLLM delivered it to the provider.
    assert f"Tool get_weather returned: {RESULT}" in text
    assert text.startswith(f"Emulated reply from {PROVIDER_MODEL[model]}.")

    # The provider saw its own API's shape: a tool call answered, then text.
    upstream = provider_requests(stack)[-2:]
    assert [r["api"] for r in upstream] == [PROVIDER_API[model]] * 2
    assert [r.get("tool_call") for r in upstream] == ["get_weather", None]
    assert all("tools" in r["body_keys"] for r in upstream)

    # Langfuse: one generation per call, the first with the tool call as its output, the
    # second with the call and its result in its input.
    spans = receiver.wait_for_spans(attribute="session.id", value=session, min_count=2, timeout=30)
    asked, answered = sorted(spans, key=lambda span: span["start_time_unix_nano"])
    output = attribute(asked, "langfuse.observation.output")
    (recorded_call,) = output["tool_calls"]
    assert recorded_call["id"] == tool_call.id
    assert recorded_call["function"]["name"] == "get_weather"
    assert json.loads(recorded_call["function"]["arguments"]) == WEATHER_ARGS
    assert attribute(asked, "langfuse.observation.usage_details")["output"] == CALL_TOKENS
    offered = attribute(asked, "langfuse.observation.input")["tools"]
    assert [tool["function"]["name"] for tool in offered] == ["get_weather", "get_time"]
    history = attribute(answered, "langfuse.observation.input")["messages"]
    assert [m["role"] for m in history] == ["user", "assistant", "tool"]
    assert history[1]["tool_calls"][0]["id"] == tool_call.id
    assert history[2] == {"role": "tool", "tool_call_id": tool_call.id, "content": RESULT}
    assert attribute(answered, "langfuse.observation.output")["content"] == text


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("model", list(PROVIDER_MODEL))
def test_json_schema_mode_through_the_gateway(stack: LocalStack, model: str, stream: bool) -> None:
    """LiteLLM turns response_format json_schema into a forced tool (`json_tool_call`) for
    both models (neither has native structured outputs in its model map), and the answer's
    content is that tool call's arguments."""
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "celsius": {"type": "integer"}},
        "required": ["city", "celsius"],
        "additionalProperties": False,
    }
    body = {
        "model": model, "stream": stream,
        "messages": [{"role": "user", "content": "The weather as JSON, please."}],
        "response_format": {"type": "json_schema",
                            "json_schema": {"name": "weather", "schema": schema, "strict": True}},
    }  # fmt: skip
    response = post_chat(stack, FULL, body)
    assert response.status_code == 200, response.text
    if stream:
        chunks = [
            json.loads(line[6:]) for line in response.text.splitlines()
            if line.startswith("data: {")
        ]  # fmt: skip
        content = "".join(
            choice["delta"].get("content") or "" for c in chunks for choice in c["choices"]
        )
    else:
        content = response.json()["choices"][0]["message"]["content"]
    assert json.loads(content) == {"city": "emulated city", "celsius": 1}
    assert provider_requests(stack)[-1]["tool_call"] == "json_tool_call"


@pytest.mark.parametrize(
    ("tools", "param"),
    [
        ([{"type": "function"}], "tools[0].function"),
        ([{"type": "function", "function": {"name": "f", "parameters": "{}"}}],
         "tools[0].function.parameters"),
        (["get_weather"], "tools[0]"),
    ],
)  # fmt: skip
def test_a_malformed_tool_is_the_gateways_400_and_never_reaches_a_provider(
    stack: LocalStack, tools: list[Any], param: str
) -> None:
    """LiteLLM answered the first two with a 500 and dropped the third silently."""
    before = emulator_stats(stack)["requests"]
    body = {"model": "claude-sonnet", "messages": [{"role": "user", "content": PROMPT}],
            "tools": tools}  # fmt: skip
    response = post_chat(stack, FULL, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param
    assert error["code"] == "invalid_request"
    assert emulator_stats(stack)["requests"] == before
