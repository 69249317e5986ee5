"""Reading an Anthropic Messages request: the conversation's content blocks, the tools, the
tool_choice and the structured output format, each checked the way the real API checks it.

Content blocks emulated: ``text`` (both roles), ``tool_use`` (assistant) and
``tool_result`` (user, its content a string or text blocks). Images, documents, thinking
and server tools are refused with a 400 naming the block, never dropped silently.
"""

import re
from dataclasses import dataclass, field
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
    to_json,
    tool_name,
)
from provider_emulator.tokens import count_tokens

ROLES = ("user", "assistant")
BLOCK_TYPES = {"user": ("text", "tool_result"), "assistant": ("text", "tool_use")}
TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,128}")
CHOICE_TYPES = ("auto", "any", "tool", "none")


@dataclass(frozen=True)
class Conversation:
    """What the messages tell the emulator: their tokens and how the conversation ends."""

    tokens: int
    last_user_text: str
    last_turn: LastTurn
    tool_results: tuple[ToolResult, ...]


@dataclass
class _Content:
    """One message's content blocks."""

    texts: list[str] = field(default_factory=list)
    tokens: int = 0
    calls: dict[str, str] = field(default_factory=dict)  # tool_use id -> tool name
    # (tool_use_id, text, is_error) per tool_result block, in order
    results: list[tuple[str, str, bool]] = field(default_factory=list)


def parse_conversation(messages: list[Any]) -> Conversation:
    """The messages, with the real API's pairing rule: the message after an assistant turn
    with tool_use blocks answers each of them with a tool_result, and only those."""
    tokens = 0
    last_user_text = ""
    last_turn: LastTurn = "user"
    results: tuple[ToolResult, ...] = ()
    pending: dict[str, str] = {}  # the previous assistant message's tool_use id -> name
    pending_at = ""
    for index, message in enumerate(messages):
        where = f"messages.{index}"
        if not isinstance(message, dict):
            raise bad(where, "must be an object with role and content")
        role = message.get("role")
        if role not in ROLES:
            raise bad(f"{where}.role", f"must be one of {', '.join(ROLES)}")
        if "content" not in message:
            raise bad(f"{where}.content", "Field required")
        content = _content(message["content"], f"{where}.content", role)
        tokens += content.tokens
        if role == "user":
            results = _answers(pending, content, pending_at, f"{where}.content")
        elif pending:
            raise _unanswered(pending_at, pending)
        pending, pending_at = dict(content.calls), where
        if role == "assistant":
            last_turn, results = "assistant", ()
            continue
        # A message of tool results only is no prompt: markers and the echo stay with the
        # last message the user wrote, as in OpenAI's shape, where results are not user turns.
        if content.texts or not content.results:
            last_user_text = "\n".join(content.texts)
        last_turn = "tool_results" if results else "user"
    if pending:
        raise _unanswered(pending_at, pending)
    return Conversation(tokens, last_user_text, last_turn, results)


def _answers(
    pending: dict[str, str], content: _Content, pending_at: str, where: str
) -> tuple[ToolResult, ...]:
    unknown = [use_id for use_id, _, _ in content.results if use_id not in pending]
    if unknown:
        raise bad(
            where,
            f"unexpected tool_use_id found in tool_result blocks: {', '.join(unknown)}; "
            "each tool_result must answer a tool_use block of the previous message",
        )
    answered = {use_id for use_id, _, _ in content.results}
    missing = {use_id: name for use_id, name in pending.items() if use_id not in answered}
    if missing:
        raise _unanswered(pending_at, missing)
    return tuple(
        ToolResult(pending[use_id], text, is_error) for use_id, text, is_error in content.results
    )


def _unanswered(where: str, calls: dict[str, str]) -> Exception:
    return bad(
        where,
        f"tool_use ids were found without tool_result blocks immediately after: "
        f"{', '.join(calls)}; each tool_use block must have a tool_result in the next message",
    )


def _content(content: Any, where: str, role: str) -> _Content:
    parsed = _Content()
    if isinstance(content, str):
        parsed.texts.append(content)
        parsed.tokens = count_tokens(content)
        return parsed
    if not isinstance(content, list):
        raise bad(where, "must be a string or a list of content blocks")
    allowed = BLOCK_TYPES[role]
    for index, block in enumerate(content):
        at = f"{where}.{index}"
        if not isinstance(block, dict):
            raise bad(at, "must be an object")
        kind = block.get("type")
        if kind not in allowed:
            kinds = " and ".join(map(repr, allowed))
            raise bad(
                f"{at}.type", f"only {kinds} blocks are emulated in a {role} message, got {kind!r}"
            )
        if kind == "text":
            text = block.get("text")
            if not isinstance(text, str):
                raise bad(f"{at}.text", "must be a string")
            parsed.texts.append(text)
            parsed.tokens += count_tokens(text)
        elif kind == "tool_use":
            use_id = _id(block.get("id"), f"{at}.id")
            name = tool_name(block.get("name"), f"{at}.name", TOOL_NAME)
            arguments = block.get("input")
            if not isinstance(arguments, dict):
                raise bad(f"{at}.input", "must be an object")
            parsed.calls[use_id] = name
            parsed.tokens += count_tokens(name) + count_tokens(to_json(arguments))
        else:
            use_id = _id(block.get("tool_use_id"), f"{at}.tool_use_id")
            text = text_of_content(block.get("content", ""), f"{at}.content")
            is_error = optional_bool(block, "is_error", where=f"{at}.is_error")
            parsed.results.append((use_id, text, is_error))
            parsed.tokens += count_tokens(text)
    return parsed


def _id(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise bad(where, "must be a non-empty string")
    return value


def parse_tools(value: Any) -> tuple[Tool, ...]:
    """Custom (client) tools; server tools such as web search are not emulated."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise bad("tools", "must be a list of tools")
    tools: list[Tool] = []
    for index, tool in enumerate(value):
        where = f"tools.{index}"
        if not isinstance(tool, dict):
            raise bad(where, "must be an object")
        if tool.get("type") not in (None, "custom"):
            raise bad(f"{where}.type", f"only custom tools are emulated, got {tool['type']!r}")
        name = tool_name(tool.get("name"), f"{where}.name", TOOL_NAME)
        description = tool.get("description", "")
        if not isinstance(description, str):
            raise bad(f"{where}.description", "must be a string")
        schema = json_schema(tool.get("input_schema"), f"{where}.input_schema")
        if schema.get("type") != "object":
            raise bad(f"{where}.input_schema.type", "must be 'object'")
        tools.append(Tool(name, description, schema))
    return tuple(tools)


def parse_tool_choice(value: Any) -> ToolChoice:
    if value is None:
        return ToolChoice()
    if not isinstance(value, dict):
        raise bad("tool_choice", "must be an object with a type")
    kind = value.get("type")
    if kind not in CHOICE_TYPES:
        raise bad("tool_choice.type", f"must be one of {', '.join(CHOICE_TYPES)}")
    # One call per answer anyway, so disabling parallel calls changes nothing.
    optional_bool(value, "disable_parallel_tool_use", where="tool_choice.disable_parallel_tool_use")
    if kind == "tool":
        return ToolChoice("required", tool_name(value.get("name"), "tool_choice.name", TOOL_NAME))
    return ToolChoice("required" if kind == "any" else "auto" if kind == "auto" else "none")


def parse_output_format(body: dict[str, Any]) -> OutputFormat:
    """Structured outputs: ``output_config.format`` (the current name) or ``output_format``
    (the beta's, which LiteLLM sends), both ``{"type": "json_schema", "schema": {...}}``.
    Anthropic has no schema-less JSON mode."""
    config = body.get("output_config")
    if config is not None and not isinstance(config, dict):
        raise bad("output_config", "must be an object")
    where, spec = "output_config.format", (config or {}).get("format")
    if spec is None:
        where, spec = "output_format", body.get("output_format")
    if spec is None:
        return OutputFormat()
    if not isinstance(spec, dict) or spec.get("type") != "json_schema":
        raise bad(f"{where}.type", "must be 'json_schema'")
    return OutputFormat("json_schema", json_schema(spec.get("schema"), f"{where}.schema"))
