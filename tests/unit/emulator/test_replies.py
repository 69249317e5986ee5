"""The emulator's documented rule for when it calls a tool, and what it answers otherwise."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from provider_emulator.chat import ChatRequest, OutputFormat, Tool, ToolChoice, ToolResult
from provider_emulator.errors import ApiError
from provider_emulator.faults import Fault
from provider_emulator.replies import compose_answer
from provider_emulator.tokens import count_tokens

WEATHER = Tool(
    "get_weather",
    "The weather now",
    {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
)
TIME = Tool("get_time", "", {"type": "object", "properties": {}})
PROMPT = ChatRequest(
    model="m",
    stream=False,
    max_tokens=None,
    input_tokens=0,
    last_user_text="What is the weather?",
    tools=(WEATHER, TIME),
)
AFTER_RESULTS = replace(
    PROMPT,
    last_turn="tool_results",
    tool_results=(ToolResult("get_weather", "21 degrees"), ToolResult("get_time", "noon", True)),
)
NO_FAULT = Fault()
TOOLS_OFF = Fault(tools="off")


def test_a_prompt_with_tools_calls_the_first_tool_with_its_required_arguments() -> None:
    answer = compose_answer(PROMPT, NO_FAULT)
    assert answer.tool_name == "get_weather"
    assert json.loads(answer.text) == {"city": "emulated city"}
    assert not answer.truncated
    # Output tokens: the name's and the arguments' JSON text's.
    assert answer.output_tokens == count_tokens("get_weather") + count_tokens(answer.text)


def test_tool_choice_decides_which_tool_and_whether() -> None:
    named = replace(PROMPT, tool_choice=ToolChoice("required", "get_time"))
    assert compose_answer(named, NO_FAULT).tool_name == "get_time"
    assert compose_answer(named, NO_FAULT).text == "{}"
    none = replace(PROMPT, tool_choice=ToolChoice("none"))
    assert compose_answer(none, NO_FAULT).tool_name is None


def test_tool_results_are_answered_with_text_that_echoes_them() -> None:
    answer = compose_answer(AFTER_RESULTS, NO_FAULT)
    assert answer.tool_name is None
    assert answer.text == (
        "Emulated reply from m. Tool get_weather returned: 21 degrees; "
        "Tool get_time failed: noon The quick brown fox jumps over the lazy dog."
    )


def test_a_forced_choice_calls_again_after_tool_results() -> None:
    forced = replace(AFTER_RESULTS, tool_choice=ToolChoice("required"))
    assert compose_answer(forced, NO_FAULT).tool_name == "get_weather"


def test_an_assistant_prefill_is_continued_with_text() -> None:
    assert compose_answer(replace(PROMPT, last_turn="assistant"), NO_FAULT).tool_name is None


def test_tools_off_forces_a_plain_answer_and_refuses_where_it_cannot_act() -> None:
    answer = compose_answer(PROMPT, TOOLS_OFF)
    assert answer.tool_name is None
    assert answer.text.startswith("Emulated reply from m. You said: What is the weather?")
    for request, problem in (
        (replace(PROMPT, tools=()), "needs tools"),
        (replace(PROMPT, tool_choice=ToolChoice("required")), "contradicts"),
    ):
        with pytest.raises(ApiError) as refused:
            compose_answer(request, TOOLS_OFF)
        assert refused.value.status == 400
        assert problem in refused.value.message


def test_max_tokens_cuts_a_tool_calls_arguments_after_its_name() -> None:
    answer = compose_answer(replace(PROMPT, max_tokens=4), NO_FAULT)
    assert answer.truncated
    assert answer.output_tokens == 4
    assert answer.text == '{"city'  # 3 tokens after the name's 1


def test_json_modes_shape_the_text() -> None:
    plain = replace(PROMPT, tools=())
    as_object = compose_answer(replace(plain, output=OutputFormat("json_object")), NO_FAULT)
    assert json.loads(as_object.text) == {"answer": compose_answer(plain, NO_FAULT).text}
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    by_schema = compose_answer(replace(plain, output=OutputFormat("json_schema", schema)), NO_FAULT)
    assert json.loads(by_schema.text) == {"n": 1}
    assert by_schema.output_tokens == count_tokens('{"n":1}')
