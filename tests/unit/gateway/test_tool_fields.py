"""Tool use passes the gateway whole; malformed tool fields are a 400 naming the field.

Without these checks LiteLLM answered a function tool without its `function`, or with
`parameters` that are not an object, with a 500, and dropped a tool, a tool call or a
tool_choice it could not read, so the caller never learned of the mistake.
"""

from __future__ import annotations

from typing import Any

import pytest
from gateway.errors import GatewayError
from gateway.forwarding import parse_chat_request

TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {"name": "get_weather", "description": "The weather",
                                      "parameters": {"type": "object", "properties": {}}}},
    {"type": "function", "function": {"name": "get_time"}},  # parameters are optional
    {"type": "custom", "custom": {"name": "grammar_tool"}},  # other types pass unexamined
]  # fmt: skip
CALL: dict[str, Any] = {"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}  # fmt: skip
LOOP: list[dict[str, Any]] = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "call_1", "content": "21 degrees"},
]


def body(**extra: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet", "messages": LOOP, "tools": TOOLS, **extra}


@pytest.mark.parametrize(
    "tool_choice",
    ["none", "auto", "required", {"type": "function", "function": {"name": "get_time"}},
     {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}}],
)  # fmt: skip
def test_a_tool_loop_is_forwarded_unchanged(tool_choice: Any) -> None:
    payload = body(tool_choice=tool_choice, parallel_tool_calls=False)
    request = parse_chat_request(payload)
    assert request.body == payload
    assert request.dropped_fields == ()


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        (body(tools=["get_weather"]), "tools[0]"),
        (body(tools=[{"function": {"name": "f"}}]), "tools[0]"),
        (body(tools=[{"type": "function"}]), "tools[0].function"),
        (body(tools=[{"type": "function", "function": {"name": ""}}]), "tools[0].function"),
        (body(tools=[{"type": "function", "function": {"name": "f", "parameters": "{}"}}]),
         "tools[0].function.parameters"),
        (body(tool_choice="sometimes"), "tool_choice"),
        (body(tool_choice=3), "tool_choice"),
        (body(tool_choice={"type": "function", "function": "get_time"}), "tool_choice.function"),
        (body(messages=[LOOP[0], {**LOOP[1], "tool_calls": "get_weather"}]),
         "messages[1].tool_calls"),
        (body(messages=[LOOP[0], {**LOOP[1], "tool_calls": [{"type": "function"}]}]),
         "messages[1].tool_calls[0]"),
        (body(messages=[LOOP[0], {**LOOP[1], "tool_calls": [{**CALL, "function": None}]}]),
         "messages[1].tool_calls[0].function"),
        (body(messages=[LOOP[0], {**LOOP[1], "tool_calls": [
            {**CALL, "function": {"name": "f", "arguments": {"city": "Paris"}}}]}]),
         "messages[1].tool_calls[0].function.arguments"),
    ],
)  # fmt: skip
def test_malformed_tool_fields_are_a_400_naming_the_field(payload: Any, param: str) -> None:
    with pytest.raises(GatewayError) as raised:
        parse_chat_request(payload)
    assert raised.value.status == 400
    assert raised.value.param == param
