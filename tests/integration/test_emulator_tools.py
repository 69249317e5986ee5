"""Tool use and JSON modes of the provider emulator, checked against the providers' own types.

Every answer, plain and each streamed event, is validated with the official SDKs' pydantic
models (``model_validate``, not the SDK's lenient construction), and no field the SDK does
not know may appear (Groq's ``x_groq`` and ``service_tier: on_demand`` excepted: the SDK
has no names for them). The SDKs' own clients and stream accumulators, pointed at the
emulator with base_url, then run the tool loop a caller runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pydantic
import pytest
from anthropic.types import (
    Message,
    RawMessageStreamEvent,
    TextBlock,
    ToolUseBlock,
)
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessageFunctionToolCall,
)

from tests.integration.test_provider_emulator import (
    CLAUDE,
    LLAMA,
    Emulator,
    anthropic_client,
    anthropic_headers,
    call,
    cleared,
    groq_client,
    groq_headers,
    request_log,
    running_emulator,
    tokens,
)

pytestmark = pytest.mark.integration

GROQ_PATH = "/openai/v1/chat/completions"
PROMPT = "What is the weather in Paris right now?"
RESULT = "21 degrees and sunny"
WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "location": {"type": "string", "description": "City name"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer"},
    },
    "required": ["location", "unit"],
}
# What the emulator's documented rule builds from WEATHER_SCHEMA: required properties only.
WEATHER_ARGS = {"location": "emulated location", "unit": "celsius"}
TIME_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}
CLAUDE_TOOLS: list[Any] = [
    {"name": "get_weather", "description": "The weather now", "input_schema": WEATHER_SCHEMA},
    {"name": "get_time", "description": "The time now", "input_schema": TIME_SCHEMA},
]
GROQ_TOOLS: list[Any] = [
    {"type": "function", "function": {"name": t["name"], "description": t["description"],
                                      "parameters": t["input_schema"]}}
    for t in CLAUDE_TOOLS
]  # fmt: skip


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# The documented input-token rule for tools: name, description and the schema's JSON.
TOOLS_TOKENS = sum(
    tokens(t["name"], t["description"], compact(t["input_schema"])) for t in CLAUDE_TOOLS
)
CALL_TOKENS = tokens("get_weather", compact(WEATHER_ARGS))


@pytest.fixture(scope="module")
def emulator_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with running_emulator(tmp_path_factory.mktemp("emulator") / "emulator.log") as emu:
        yield emu


@pytest.fixture
def emulator(emulator_process: Emulator) -> Emulator:
    return cleared(emulator_process)


# --- schema checks with the SDKs' own types --------------------------------------------------


def assert_known_fields(value: Any, allowed_extra: frozenset[str] = frozenset()) -> None:
    """No field the SDK's model lacks, at any depth (``allowed_extra`` at the top only)."""
    if isinstance(value, pydantic.BaseModel):
        assert set(value.model_extra or {}) <= allowed_extra, value.model_extra
        for name in type(value).model_fields:
            assert_known_fields(getattr(value, name))
    elif isinstance(value, list | tuple):
        for item in value:
            assert_known_fields(item)


_EVENT = pydantic.TypeAdapter(RawMessageStreamEvent)
GROQ_EXTRA = frozenset({"x_groq"})


def anthropic_message(body: dict[str, Any]) -> Message:
    message = Message.model_validate(body)
    assert_known_fields(message)
    return message


def groq_payload(body: dict[str, Any]) -> dict[str, Any]:
    """Groq's service tier is not among the SDK's literals: checked here, then left out."""
    assert body["service_tier"] == "on_demand"
    return {key: value for key, value in body.items() if key != "service_tier"}


def groq_completion(body: dict[str, Any]) -> ChatCompletion:
    completion = ChatCompletion.model_validate(groq_payload(body))
    assert_known_fields(completion, GROQ_EXTRA)
    return completion


def anthropic_events(emu: Emulator, body: dict[str, Any]) -> tuple[list[str], list[Any]]:
    """The SSE stream: every event's name, and each event validated as the SDK's
    RawMessageStreamEvent (pings aside: the SDK skips them, they have no type of their own)."""
    names: list[str] = []
    events: list[Any] = []
    with httpx.stream("POST", f"{emu.url}/v1/messages", json={**body, "stream": True},
                      headers=anthropic_headers(emu), timeout=10) as response:  # fmt: skip
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("event: "):
                names.append(line.removeprefix("event: "))
            elif line.startswith("data: "):
                payload = json.loads(line.removeprefix("data: "))
                assert payload["type"] == names[-1]
                if payload["type"] == "ping":
                    assert payload == {"type": "ping"}
                    continue
                event = _EVENT.validate_python(payload)
                assert_known_fields(event)
                events.append(event)
    return names, events


def groq_chunks(emu: Emulator, body: dict[str, Any]) -> list[ChatCompletionChunk]:
    """The SSE stream, each chunk validated as the SDK's ChatCompletionChunk."""
    chunks: list[ChatCompletionChunk] = []
    with httpx.stream("POST", f"{emu.url}{GROQ_PATH}", json={**body, "stream": True},
                      headers=groq_headers(emu), timeout=10) as response:  # fmt: skip
        assert response.status_code == 200
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    for line in lines[:-1]:
        chunk = ChatCompletionChunk.model_validate(groq_payload(json.loads(line[6:])))
        assert_known_fields(chunk, GROQ_EXTRA)
        chunks.append(chunk)
    return chunks


def only_call(tool_calls: list[Any] | None) -> ChatCompletionMessageFunctionToolCall:
    """The one function call of a message (the emulator never makes parallel calls)."""
    assert tool_calls is not None
    (tool_call,) = tool_calls
    assert isinstance(tool_call, ChatCompletionMessageFunctionToolCall)
    return tool_call


def claude_request(messages: list[Any], **extra: Any) -> dict[str, Any]:
    return {"model": CLAUDE, "max_tokens": 300, "tools": CLAUDE_TOOLS, "messages": messages,
            **extra}  # fmt: skip


def llama_request(messages: list[Any], **extra: Any) -> dict[str, Any]:
    return {"model": LLAMA, "tools": GROQ_TOOLS, "messages": messages, **extra}


def anthropic_post(emu: Emulator, body: dict[str, Any]) -> tuple[int, Any]:
    status, _, answer = call(emu, "POST", "/v1/messages", body, anthropic_headers(emu))
    return status, answer


def groq_post(emu: Emulator, body: dict[str, Any]) -> tuple[int, Any]:
    status, _, answer = call(emu, "POST", GROQ_PATH, body, groq_headers(emu))
    return status, answer


# --- Anthropic: tool_use / tool_result ----------------------------------------------------------

CLAUDE_PROMPT: list[Any] = [{"role": "user", "content": PROMPT}]


def test_anthropic_tool_call_is_an_sdk_message_and_counts_its_tokens(emulator: Emulator) -> None:
    status, body = anthropic_post(emulator, claude_request(CLAUDE_PROMPT))
    assert status == 200, body
    message = anthropic_message(body)
    assert message.stop_reason == "tool_use"
    (block,) = message.content
    assert isinstance(block, ToolUseBlock)
    assert block.id.startswith("toolu_")
    assert (block.name, block.input) == ("get_weather", WEATHER_ARGS)
    assert message.usage.input_tokens == tokens(PROMPT) + TOOLS_TOKENS
    assert message.usage.output_tokens == CALL_TOKENS
    assert request_log(emulator)[-1]["tool_call"] == "get_weather"


def test_anthropic_tool_call_streams_as_input_json_deltas(emulator: Emulator) -> None:
    names, events = anthropic_events(emulator, claude_request(CLAUDE_PROMPT))
    deltas = names.count("content_block_delta")
    assert names == [
        "message_start", "content_block_start", "ping", *["content_block_delta"] * deltas,
        "content_block_stop", "message_delta", "message_stop",
    ]  # fmt: skip
    start = events[1].content_block  # events[0] is message_start; pings are not in events
    assert isinstance(start, ToolUseBlock)
    assert (start.name, start.input) == ("get_weather", {})
    fragments = [e.delta.partial_json for e in events if e.type == "content_block_delta"]
    assert fragments[0] == ""  # as the real API: an empty fragment first
    assert all(tokens(fragment) == 1 for fragment in fragments[1:])
    assert json.loads("".join(fragments)) == WEATHER_ARGS
    finish = events[-2]
    assert finish.delta.stop_reason == "tool_use"
    assert finish.usage.output_tokens == CALL_TOKENS == len(fragments) - 1 + tokens("get_weather")

    # The SDK's own accumulator agrees with the non-streamed answer.
    client = anthropic_client(emulator)
    plain = client.messages.create(**claude_request(CLAUDE_PROMPT))
    with client.messages.stream(**claude_request(CLAUDE_PROMPT)) as stream:
        final = stream.get_final_message()
    assert [b.model_dump(exclude={"id"}) for b in final.content] == [
        b.model_dump(exclude={"id"}) for b in plain.content
    ]
    assert final.stop_reason == plain.stop_reason == "tool_use"
    assert final.usage.model_dump() == plain.usage.model_dump()


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_anthropic_tool_loop_with_the_sdk(emulator: Emulator, stream: bool) -> None:
    client = anthropic_client(emulator)

    def ask(messages: list[Any]) -> Message:
        if not stream:
            message: Message = client.messages.create(**claude_request(messages))
            return message
        with client.messages.stream(**claude_request(messages)) as events:
            return events.get_final_message()

    first = ask(CLAUDE_PROMPT)
    (use,) = first.content
    assert isinstance(use, ToolUseBlock)
    messages = [
        *CLAUDE_PROMPT,
        {"role": "assistant", "content": [use.model_dump(exclude_none=True)]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": use.id, "content": RESULT},
        ]},
    ]  # fmt: skip
    second = ask(messages)
    assert second.stop_reason == "end_turn"
    (text,) = second.content
    assert isinstance(text, TextBlock)
    assert text.text == (
        f"Emulated reply from {CLAUDE}. Tool get_weather returned: {RESULT} "
        "The quick brown fox jumps over the lazy dog."
    )
    # The tool call in the history counts as it did when it was answered.
    assert second.usage.input_tokens == tokens(PROMPT, RESULT) + CALL_TOKENS + TOOLS_TOKENS
    assert second.usage.output_tokens == tokens(text.text)
    assert "tool_call" not in request_log(emulator)[-1]


def _anthropic_loop_messages(use_id: str = "toolu_1", is_error: bool = False) -> list[Any]:
    return [
        *CLAUDE_PROMPT,
        {"role": "assistant", "content": [
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": use_id, "name": "get_weather", "input": WEATHER_ARGS},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": use_id, "is_error": is_error,
             "content": [{"type": "text", "text": RESULT}]},
        ]},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("messages", "extra", "expected"),
    [
        (CLAUDE_PROMPT, {"tool_choice": {"type": "tool", "name": "get_time"}}, "get_time"),
        (CLAUDE_PROMPT, {"tool_choice": {"type": "auto"}}, "get_weather"),
        (CLAUDE_PROMPT, {"tool_choice": {"type": "none"}}, None),
        (_anthropic_loop_messages(), {"tool_choice": {"type": "any"}}, "get_weather"),
        (_anthropic_loop_messages(), {}, None),
        ([{"role": "user", "content": f"{PROMPT} [[emulator:tools=off]]"}], {}, None),
    ],
    ids=["named", "auto", "none", "any-after-results", "auto-after-results", "tools-off"],
)
def test_anthropic_tool_choice_decides(
    emulator: Emulator, messages: list[Any], extra: dict[str, Any], expected: str | None
) -> None:
    status, body = anthropic_post(emulator, claude_request(messages, **extra))
    assert status == 200, body
    (block,) = anthropic_message(body).content
    if expected is None:
        assert isinstance(block, TextBlock)
    else:
        assert isinstance(block, ToolUseBlock)
        assert block.name == expected


def test_anthropic_failed_tool_result_is_echoed_as_a_failure(emulator: Emulator) -> None:
    status, body = anthropic_post(emulator, claude_request(_anthropic_loop_messages(is_error=True)))
    assert status == 200, body
    (block,) = anthropic_message(body).content
    assert isinstance(block, TextBlock)
    assert f"Tool get_weather failed: {RESULT}" in block.text


def _unanswered_tool_use() -> list[Any]:
    loop = _anthropic_loop_messages()
    return [*loop[:2], {"role": "user", "content": "Never mind."}]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (claude_request([*_anthropic_loop_messages()[:2], _anthropic_loop_messages("x")[2]]),
         "messages.2.content"),
        (claude_request(_unanswered_tool_use()), "messages.1"),
        (claude_request(_anthropic_loop_messages()[:2]), "messages.1"),
        (claude_request(CLAUDE_PROMPT, tools=[{"type": "web_search_20250305",
                                               "name": "web_search"}]), "tools.0.type"),
        (claude_request(CLAUDE_PROMPT, tools=[{"name": "bad name!", "input_schema": {}}]),
         "tools.0.name"),
        (claude_request(CLAUDE_PROMPT, tools=[{"name": "f", "input_schema": {"type": "string"}}]),
         "tools.0.input_schema.type"),
        (claude_request(CLAUDE_PROMPT, tool_choice={"type": "tool", "name": "nope"}),
         "tool_choice"),
        (claude_request(CLAUDE_PROMPT, tools=[], tool_choice={"type": "any"}), "tool_choice"),
        (claude_request(CLAUDE_PROMPT, tool_choice="auto"), "tool_choice"),
        (claude_request([{"role": "user", "content": [
            {"type": "tool_use", "id": "t", "name": "f", "input": {}}]}]),
         "messages.0.content.0.type"),
        (claude_request(CLAUDE_PROMPT, output_config={"format": {"type": "json_object"}}),
         "output_config.format.type"),
    ],
    ids=[
        "result-for-unknown-id", "use-without-result", "use-at-the-end", "server-tool",
        "tool-name", "schema-not-object", "choice-names-absent-tool", "forced-without-tools",
        "choice-not-object", "tool-use-in-user-turn", "no-json-object-mode",
    ],
)  # fmt: skip
def test_anthropic_malformed_tool_use_is_a_400_naming_the_field(
    emulator: Emulator, body: dict[str, Any], field: str
) -> None:
    status, answer = anthropic_post(emulator, body)
    assert status == 400, answer
    assert answer["error"]["type"] == "invalid_request_error"
    assert answer["error"]["message"].startswith(f"{field}:")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (claude_request([{"role": "user", "content": "Hi [[emulator:tools=off]]"}],
                        tool_choice={"type": "any"}), "contradicts"),
        ({"model": CLAUDE, "max_tokens": 50,
          "messages": [{"role": "user", "content": "Hi [[emulator:tools=off]]"}]}, "needs tools"),
        (claude_request([{"role": "user", "content": "Hi [[emulator:tools=on]]"}]), "'off'"),
    ],
)  # fmt: skip
def test_a_tools_off_marker_that_cannot_act_is_a_400(
    emulator: Emulator, body: dict[str, Any], problem: str
) -> None:
    status, answer = anthropic_post(emulator, body)
    assert status == 400
    assert problem in answer["error"]["message"]
    assert "emulator" in answer["error"]["message"]


def test_anthropic_tool_call_cut_by_max_tokens(emulator: Emulator) -> None:
    body = claude_request(CLAUDE_PROMPT, max_tokens=5)
    status, plain = anthropic_post(emulator, body)
    assert status == 200
    message = anthropic_message(plain)
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 5
    (block,) = message.content
    assert isinstance(block, ToolUseBlock)
    assert block.input == {}  # the cut JSON is not parsed (see README)
    _, events = anthropic_events(emulator, body)
    fragments = "".join(e.delta.partial_json for e in events if e.type == "content_block_delta")
    assert fragments == '{"location"'  # 4 tokens after the name's 1
    assert events[-2].delta.stop_reason == "max_tokens"


def test_anthropic_structured_output_follows_the_schema(emulator: Emulator) -> None:
    class Weather(pydantic.BaseModel):
        location: str
        celsius: int
        sunny: bool

    schema = Weather.model_json_schema()
    client = anthropic_client(emulator)
    request: dict[str, Any] = {
        "model": CLAUDE, "max_tokens": 100, "messages": CLAUDE_PROMPT,
        "output_config": {"format": {"type": "json_schema", "schema": schema}},
    }  # fmt: skip
    message = client.messages.create(**request)
    (block,) = message.content
    assert isinstance(block, TextBlock)
    assert Weather.model_validate_json(block.text) == Weather(
        location="emulated location", celsius=1, sunny=True
    )
    assert message.usage.input_tokens == tokens(PROMPT, compact(schema))
    with client.messages.stream(**request) as stream:
        assert "".join(stream.text_stream) == block.text
    # The beta's name for the same, which LiteLLM sends for models with native support.
    status, body = anthropic_post(emulator, {
        **{k: v for k, v in request.items() if k != "output_config"},
        "output_format": {"type": "json_schema", "schema": schema},
    })  # fmt: skip
    assert status == 200
    assert anthropic_message(body).content[0].model_dump()["text"] == block.text


# --- Groq / OpenAI: tool_calls and tool messages -----------------------------------------------

LLAMA_PROMPT: list[Any] = [{"role": "user", "content": PROMPT}]


def test_groq_tool_call_is_an_sdk_completion_and_counts_its_tokens(emulator: Emulator) -> None:
    status, body = groq_post(emulator, llama_request(LLAMA_PROMPT))
    assert status == 200, body
    completion = groq_completion(body)
    (choice,) = completion.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None
    (tool_call,) = choice.message.tool_calls
    assert tool_call.type == "function"
    assert tool_call.id.startswith("call_")
    assert tool_call.function.name == "get_weather"
    assert json.loads(tool_call.function.arguments) == WEATHER_ARGS
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == tokens(PROMPT) + TOOLS_TOKENS
    assert completion.usage.completion_tokens == CALL_TOKENS
    assert request_log(emulator)[-1]["tool_call"] == "get_weather"


def test_groq_tool_call_streams_as_tool_call_deltas(emulator: Emulator) -> None:
    chunks = groq_chunks(
        emulator, llama_request(LLAMA_PROMPT, stream_options={"include_usage": True})
    )
    first = chunks[0].choices[0].delta
    assert first.role == "assistant"
    assert first.tool_calls is not None
    (head,) = first.tool_calls
    assert head.index == 0
    assert head.id is not None
    assert head.id.startswith("call_")
    assert head.function is not None
    assert (head.function.name, head.function.arguments) == ("get_weather", "")
    fragments: list[str] = []
    for chunk in chunks[1:]:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or ():
                assert (delta.index, delta.id) == (0, None)
                assert delta.function is not None
                assert delta.function.arguments is not None
                fragments.append(delta.function.arguments)
    assert all(tokens(fragment) == 1 for fragment in fragments)
    assert json.loads("".join(fragments)) == WEATHER_ARGS
    finishing = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finishing] == ["tool_calls"]
    usage = chunks[-1].usage
    assert usage is not None
    assert usage.completion_tokens == CALL_TOKENS == len(fragments) + tokens("get_weather")


class GetWeather(pydantic.BaseModel):
    """The weather now."""

    location: str
    unit: str


def test_groq_sdk_stream_accumulator_parses_the_arguments(emulator: Emulator) -> None:
    client = groq_client(emulator)
    tool = openai.pydantic_function_tool(GetWeather)
    plain = client.chat.completions.create(model=LLAMA, messages=LLAMA_PROMPT, tools=[tool])
    with client.chat.completions.stream(
        model=LLAMA, messages=LLAMA_PROMPT, tools=[tool], stream_options={"include_usage": True}
    ) as stream:
        final = stream.get_final_completion()
    (tool_call,) = final.choices[0].message.tool_calls or []
    # The strict schema requires both fields, so both are filled.
    assert tool_call.function.parsed_arguments == GetWeather(
        location="emulated location", unit="emulated unit"
    )
    assert (
        tool_call.function.arguments
        == only_call(plain.choices[0].message.tool_calls).function.arguments
    )
    assert final.choices[0].finish_reason == plain.choices[0].finish_reason == "tool_calls"
    assert final.usage is not None
    assert plain.usage is not None
    assert final.usage.model_dump(exclude_none=True) == plain.usage.model_dump(exclude_none=True)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_groq_tool_loop_with_the_sdk(emulator: Emulator, stream: bool) -> None:
    client = groq_client(emulator)

    def ask(messages: list[Any]) -> ChatCompletion:
        if not stream:
            completion: ChatCompletion = client.chat.completions.create(**llama_request(messages))
            return completion
        with client.chat.completions.stream(
            **llama_request(messages), stream_options={"include_usage": True}
        ) as events:
            return events.get_final_completion()

    tool_call = only_call(ask(LLAMA_PROMPT).choices[0].message.tool_calls)
    messages = [
        *LLAMA_PROMPT,
        {"role": "assistant", "content": None, "tool_calls": [
            tool_call.model_dump(include={"id", "type", "function"}),
        ]},
        {"role": "tool", "tool_call_id": tool_call.id, "content": RESULT},
    ]  # fmt: skip
    second = ask(messages)
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.tool_calls in (None, [])
    text = second.choices[0].message.content
    assert text == (
        f"Emulated reply from {LLAMA}. Tool get_weather returned: {RESULT} "
        "The quick brown fox jumps over the lazy dog."
    )
    assert second.usage is not None
    assert second.usage.prompt_tokens == tokens(PROMPT, RESULT) + CALL_TOKENS + TOOLS_TOKENS
    assert second.usage.completion_tokens == tokens(text)


def _groq_loop_messages(call_id: str = "call_1") -> list[Any]:
    return [
        *LLAMA_PROMPT,
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": compact(WEATHER_ARGS)}},
        ]},
        {"role": "tool", "tool_call_id": call_id, "content": [{"type": "text", "text": RESULT}]},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("messages", "extra", "expected"),
    [
        (LLAMA_PROMPT, {"tool_choice": {"type": "function", "function": {"name": "get_time"}}},
         "get_time"),
        (LLAMA_PROMPT, {"tool_choice": "auto", "parallel_tool_calls": False}, "get_weather"),
        (LLAMA_PROMPT, {"tool_choice": "none"}, None),
        (_groq_loop_messages(), {"tool_choice": "required"}, "get_weather"),
        (_groq_loop_messages(), {}, None),
        ([{"role": "user", "content": f"{PROMPT} [[emulator:tools=off]]"}], {}, None),
    ],
    ids=["named", "auto", "none", "required-after-results", "auto-after-results", "tools-off"],
)  # fmt: skip
def test_groq_tool_choice_decides(
    emulator: Emulator, messages: list[Any], extra: dict[str, Any], expected: str | None
) -> None:
    status, body = groq_post(emulator, llama_request(messages, **extra))
    assert status == 200, body
    message = groq_completion(body).choices[0].message
    if expected is None:
        assert message.tool_calls is None
        assert message.content
    else:
        assert only_call(message.tool_calls).function.name == expected
        assert message.content is None


def test_groq_tool_results_after_a_later_prompt_keep_the_markers_of_the_prompt(
    emulator: Emulator,
) -> None:
    # Markers live in the last *user* message; a tool message is not one. So a fault asked
    # for in the prompt applies to the second call of the loop too, in both APIs.
    loop = _groq_loop_messages()
    loop[0] = {"role": "user", "content": f"{PROMPT} [[emulator:status=503]]"}
    status, _ = groq_post(emulator, llama_request(loop))
    assert status == 503
    claude_loop = _anthropic_loop_messages()
    claude_loop[0] = {"role": "user", "content": f"{PROMPT} [[emulator:status=500]]"}
    status, _ = anthropic_post(emulator, claude_request(claude_loop))
    assert status == 500


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (llama_request(_groq_loop_messages("call_x")), "messages.2.tool_call_id"),
        (llama_request([*_groq_loop_messages()[:2], {"role": "user", "content": "Hm?"}]),
         "messages.1"),
        (llama_request(_groq_loop_messages()[:2]), "messages.1"),
        (llama_request(LLAMA_PROMPT, functions=[{"name": "f"}]), "functions"),
        (llama_request(LLAMA_PROMPT, tools=[{"type": "browser_search"}]), "tools.0.type"),
        (llama_request(LLAMA_PROMPT, tools=[{"type": "function", "function": {"name": "a b"}}]),
         "tools.0.function.name"),
        (llama_request(LLAMA_PROMPT, tools=[{"type": "function", "function": {
            "name": "f", "parameters": "{}"}}]), "tools.0.function.parameters"),
        (llama_request(LLAMA_PROMPT, tool_choice={"type": "function",
                                                  "function": {"name": "nope"}}), "tool_choice"),
        (llama_request(LLAMA_PROMPT, tools=None, tool_choice="required"), "tool_choice"),
        (llama_request(LLAMA_PROMPT, tool_choice="sometimes"), "tool_choice"),
        (llama_request([*LLAMA_PROMPT, {"role": "assistant", "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": {}}}]}]),
         "messages.1.tool_calls.0.function.arguments"),
        (llama_request(LLAMA_PROMPT, response_format={"type": "yaml"}), "response_format.type"),
        (llama_request(LLAMA_PROMPT, response_format={"type": "json_schema"}),
         "response_format.json_schema"),
    ],
    ids=[
        "result-for-unknown-id", "call-without-result", "call-at-the-end", "legacy-functions",
        "server-tool", "tool-name", "parameters-not-object", "choice-names-absent-tool",
        "forced-without-tools", "choice-unknown", "arguments-not-a-string", "format-unknown",
        "json-schema-missing",
    ],
)  # fmt: skip
def test_groq_malformed_tool_use_is_a_400_naming_the_field(
    emulator: Emulator, body: dict[str, Any], field: str
) -> None:
    status, answer = groq_post(emulator, {k: v for k, v in body.items() if v is not None})
    assert status == 400, answer
    assert answer["error"]["type"] == "invalid_request_error"
    assert answer["error"]["param"] == field
    assert answer["error"]["message"].startswith(f"{field}:")


def test_groq_null_legacy_fields_are_not_the_functions_api(emulator: Emulator) -> None:
    # Serialized SDK objects carry them as null; only a value asks for the old API.
    status, body = groq_post(emulator, llama_request(LLAMA_PROMPT, functions=None,
                                                     function_call=None))  # fmt: skip
    assert status == 200, body


def test_an_error_answer_records_no_tool_call(emulator: Emulator) -> None:
    messages = [{"role": "user", "content": f"{PROMPT} [[emulator:status=500]]"}]
    status, _ = anthropic_post(emulator, claude_request(messages))
    assert status == 500
    assert "tool_call" not in request_log(emulator)[-1]


def test_groq_tool_call_cut_by_max_tokens(emulator: Emulator) -> None:
    status, body = groq_post(emulator, llama_request(LLAMA_PROMPT, max_completion_tokens=3))
    assert status == 200
    choice = groq_completion(body).choices[0]
    assert choice.finish_reason == "length"
    # 2 tokens after the name's 1
    assert only_call(choice.message.tool_calls).function.arguments == '{"'


def test_stream_faults_count_argument_fragments(emulator: Emulator) -> None:
    messages = [{"role": "user", "content": f"{PROMPT} [[emulator:reset_after=3]]"}]
    stream = groq_client(emulator).chat.completions.create(**llama_request(messages), stream=True)
    fragments: list[str] = []

    def read_all() -> None:
        for chunk in stream:
            for delta in chunk.choices[0].delta.tool_calls or ():
                if delta.function and delta.function.arguments:
                    fragments.append(delta.function.arguments)

    with pytest.raises((httpx.HTTPError, openai.APIError)):
        read_all()
    assert fragments == ["{", '"', "location"]
    status, answer = groq_post(emulator, llama_request(
        [{"role": "user", "content": f"{PROMPT} [[emulator:stall_after=99]]"}], stream=True
    ))  # fmt: skip
    assert status == 400
    assert "exceeds" in answer["error"]["message"]


# --- Groq / OpenAI: JSON mode ---------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_groq_json_object_mode_answers_a_json_object(emulator: Emulator, stream: bool) -> None:
    body = {"model": LLAMA, "messages": [{"role": "user", "content": "Answer in JSON."}],
            "response_format": {"type": "json_object"}}  # fmt: skip
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in groq_chunks(emulator, body))
    else:
        status, answer = groq_post(emulator, body)
        assert status == 200
        text = groq_completion(answer).choices[0].message.content or ""
    assert json.loads(text) == {
        "answer": f"Emulated reply from {LLAMA}. You said: Answer in JSON. "
        "The quick brown fox jumps over the lazy dog."
    }


class Report(pydantic.BaseModel):
    city: str
    temperatures: list[float]
    windy: bool


def test_groq_json_schema_mode_parses_with_the_sdk(emulator: Emulator) -> None:
    client = groq_client(emulator)
    messages: list[Any] = [{"role": "user", "content": "A weather report, please."}]
    parsed = client.chat.completions.parse(model=LLAMA, messages=messages, response_format=Report)
    report = parsed.choices[0].message.parsed
    assert report == Report(city="emulated city", temperatures=[1.5], windy=True)
    assert parsed.usage is not None
    schema = openai.lib._pydantic.to_strict_json_schema(Report)
    assert parsed.usage.prompt_tokens == tokens(messages[0]["content"], compact(schema))
    with client.chat.completions.stream(
        model=LLAMA, messages=messages, response_format=Report
    ) as stream:
        assert stream.get_final_completion().choices[0].message.parsed == report
