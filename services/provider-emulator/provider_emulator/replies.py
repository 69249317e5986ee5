"""What the emulator answers: a call of one of the offered tools, or text (free text, or JSON
when the request asks for a JSON mode).

The rule, deterministic and in this order:

1. ``[[emulator:tools=off]]`` answers with text. It is a 400 without tools (it would have
   no effect) and with a forced tool_choice (it contradicts it).
2. No tools, or tool_choice "none": text.
3. A forced tool_choice (OpenAI ``"required"`` or a named function, Anthropic ``any`` or
   ``tool``): a call of the named tool, else of the first tool, whatever the last turn is.
4. tool_choice "auto" (the default): a call of the first tool when the last message is a
   prompt (a user message with text); text when it carries tool results, or is an
   assistant prefill.

One tool call per answer, never several in parallel. Its arguments are
``schema_values.value_for`` of the tool's schema (its required properties). Text echoes
the last user message, or, after tool results, each result with its tool's name.
"""

from provider_emulator.chat import ChatRequest, OutputFormat, Tool, ToolResult, to_json
from provider_emulator.errors import ApiError
from provider_emulator.faults import Fault
from provider_emulator.schema_values import value_for
from provider_emulator.tokens import PANGRAM, Answer, echo, full_answer_text, make_answer

# A response format of type json_schema without a schema: any object.
ANY_OBJECT = {"type": "object"}


def compose_answer(chat: ChatRequest, fault: Fault) -> Answer:
    tool = _tool_to_call(chat, fault)
    if tool is not None:
        return make_answer(to_json(value_for(tool.schema)), chat.max_tokens, tool.name)
    return make_answer(_formatted(_reply_text(chat), chat.output), chat.max_tokens)


def tool_results_text(model: str, results: tuple[ToolResult, ...]) -> str:
    """The answer after tool results: each result's start, named after its tool."""
    parts = [
        f"Tool {result.tool_name} {'failed' if result.is_error else 'returned'}: "
        f"{echo(result.text)}"
        for result in results
    ]
    return f"Emulated reply from {model}. {'; '.join(parts)} {PANGRAM}"


def _tool_to_call(chat: ChatRequest, fault: Fault) -> Tool | None:
    forced = chat.tool_choice.mode == "required"
    if fault.tools == "off":
        if not chat.tools:
            raise ApiError(400, "emulator fault tools=off needs tools in the request")
        if forced:
            raise ApiError(400, "emulator fault tools=off contradicts the forced tool_choice")
        return None
    if not chat.tools or chat.tool_choice.mode == "none":
        return None
    if not forced and chat.last_turn != "user":
        return None
    named = [tool for tool in chat.tools if tool.name == chat.tool_choice.name]
    return named[0] if named else chat.tools[0]


def _reply_text(chat: ChatRequest) -> str:
    if chat.last_turn == "tool_results":
        return tool_results_text(chat.model, chat.tool_results)
    return full_answer_text(chat.model, chat.last_user_text)


def _formatted(text: str, output: OutputFormat) -> str:
    """The text as the output format wants it: ``{"answer": text}`` for a JSON object, the
    schema's value for a JSON schema (the text is then not part of the answer)."""
    if output.kind == "json_object":
        return to_json({"answer": text})
    if output.kind == "json_schema":
        return to_json(value_for(output.schema or ANY_OBJECT))
    return text
