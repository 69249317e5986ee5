"""Reading an OpenAI-style (Groq) chat completion request: the messages with their tool
calls and tool results, the tools, the tool_choice and the response format, each checked
the way the real APIs check it.

Emulated: function tools; assistant ``tool_calls``; ``tool`` messages (string or text
parts); ``response_format`` text, ``json_object`` and ``json_schema``. The deprecated
``functions`` / ``function_call`` and other tool types are refused with a 400.
"""

from dataclasses import dataclass
from typing import Any

from provider_emulator.chat import (
    LastTurn,
    OutputFormat,
    Tool,
    ToolChoice,
    ToolResult,
    bad,
    json_schema,
    optional_bool,
    text_of_content,
    tool_name,
)
from provider_emulator.tokens import count_tokens

ROLES = ("system", "developer", "user", "assistant", "tool")
# A function without parameters takes none: as at OpenAI, its arguments are "{}".
NO_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}
CHOICE_MODES = ("none", "auto", "required")
FORMAT_TYPES = ("text", "json_object", "json_schema")


@dataclass(frozen=True)
class Conversation:
    """What the messages tell the emulator: their tokens and how the conversation ends."""

    tokens: int
    last_user_text: str
    last_turn: LastTurn
    tool_results: tuple[ToolResult, ...]


def parse_conversation(messages: list[Any]) -> Conversation:
    """The messages, with the real API's pairing rule: an assistant message with tool_calls
    is followed by one tool message per call, each naming its call's id."""
    tokens = 0
    last_user_text = ""
    last_turn: LastTurn = "user"
    results: list[ToolResult] = []
    pending: dict[str, str] = {}  # the last assistant message's unanswered call id -> name
    pending_at = ""
    for index, message in enumerate(messages):
        where = f"messages.{index}"
        if not isinstance(message, dict):
            raise bad(where, "must be an object with role and content")
        role = message.get("role")
        if role not in ROLES:
            raise bad(f"{where}.role", f"must be one of {', '.join(ROLES)}")
        content = message.get("content")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise bad(f"{where}.tool_call_id", "is required for a tool message")
            if call_id not in pending:
                raise bad(
                    f"{where}.tool_call_id",
                    f"{call_id!r} answers no tool call: messages with role 'tool' must "
                    "answer a preceding message with 'tool_calls'",
                )
            text = text_of_content(content, f"{where}.content")
            tokens += count_tokens(text)
            results.append(ToolResult(pending.pop(call_id), text))
            last_turn = "tool_results"
            continue
        if pending:
            raise _unanswered(pending_at, pending)
        results = []
        if role == "assistant":
            calls = _tool_calls(message.get("tool_calls"), f"{where}.tool_calls")
            # An assistant turn may carry no content, above all one that calls tools.
            text = "" if content is None else text_of_content(content, f"{where}.content")
            tokens += count_tokens(text)
            tokens += sum(count_tokens(name) + count_tokens(args) for _, name, args in calls)
            pending, pending_at = {call_id: name for call_id, name, _ in calls}, where
            last_turn = "assistant"
            continue
        text = text_of_content(content, f"{where}.content")
        tokens += count_tokens(text)
        if role == "user":
            last_user_text = text
        last_turn = "user"
    if pending:
        raise _unanswered(pending_at, pending)
    return Conversation(tokens, last_user_text, last_turn, tuple(results))


def _unanswered(where: str, calls: dict[str, str]) -> Exception:
    return bad(
        where,
        "an assistant message with 'tool_calls' must be followed by tool messages "
        f"answering each; unanswered: {', '.join(calls)}",
    )


def _tool_calls(value: Any, where: str) -> list[tuple[str, str, str]]:
    """(id, name, arguments JSON text) per call of an assistant message."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad(where, "must be a list of tool calls")
    calls: list[tuple[str, str, str]] = []
    for index, call in enumerate(value):
        at = f"{where}.{index}"
        if not isinstance(call, dict):
            raise bad(at, "must be an object")
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            raise bad(f"{at}.id", "must be a non-empty string")
        if call.get("type") != "function":
            raise bad(f"{at}.type", "must be 'function'")
        function = call.get("function")
        if not isinstance(function, dict):
            raise bad(f"{at}.function", "must be an object with name and arguments")
        name = tool_name(function.get("name"), f"{at}.function.name")
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            raise bad(f"{at}.function.arguments", "must be a string (the arguments as JSON)")
        calls.append((call_id, name, arguments))
    return calls


def parse_tools(value: Any) -> tuple[Tool, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise bad("tools", "must be a list of tools")
    tools: list[Tool] = []
    for index, tool in enumerate(value):
        where = f"tools.{index}"
        if not isinstance(tool, dict):
            raise bad(where, "must be an object")
        if tool.get("type") != "function":
            kind = tool.get("type")
            raise bad(f"{where}.type", f"only function tools are emulated, got {kind!r}")
        function = tool.get("function")
        if not isinstance(function, dict):
            raise bad(f"{where}.function", "must be an object")
        name = tool_name(function.get("name"), f"{where}.function.name")
        description = function.get("description", "")
        if not isinstance(description, str):
            raise bad(f"{where}.function.description", "must be a string")
        parameters = function.get("parameters")
        schema = (
            NO_PARAMETERS
            if parameters is None
            else json_schema(parameters, f"{where}.function.parameters")
        )
        optional_bool(function, "strict", where=f"{where}.function.strict")
        tools.append(Tool(name, description, schema))
    return tuple(tools)


def parse_tool_choice(value: Any) -> ToolChoice:
    if value is None or value == "auto":
        return ToolChoice()
    if value == "none":
        return ToolChoice("none")
    if value == "required":
        return ToolChoice("required")
    if isinstance(value, dict) and value.get("type") == "function":
        function = value.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        return ToolChoice("required", tool_name(name, "tool_choice.function.name"))
    modes = ", ".join(map(repr, CHOICE_MODES))
    raise bad(
        "tool_choice", f"must be {modes} or {{'type': 'function', 'function': {{'name': ...}}}}"
    )


def parse_response_format(value: Any) -> OutputFormat:
    if value is None:
        return OutputFormat()
    if not isinstance(value, dict) or value.get("type") not in FORMAT_TYPES:
        raise bad("response_format.type", f"must be one of {', '.join(FORMAT_TYPES)}")
    if value["type"] == "text":
        return OutputFormat()
    if value["type"] == "json_object":
        return OutputFormat("json_object")
    spec = value.get("json_schema")
    if not isinstance(spec, dict):
        raise bad("response_format.json_schema", "must be an object with name and schema")
    tool_name(spec.get("name"), "response_format.json_schema.name")
    optional_bool(spec, "strict", where="response_format.json_schema.strict")
    schema = spec.get("schema")
    if schema is None:
        return OutputFormat("json_schema")
    return OutputFormat("json_schema", json_schema(schema, "response_format.json_schema.schema"))
