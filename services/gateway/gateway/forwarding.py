"""What the gateway sends to LiteLLM: the caller's OpenAI request, minus anything that
would steer LiteLLM or a provider, plus the metadata that Langfuse groups traces by.

Only the fields of OpenAI's chat completions API pass. LiteLLM reads many more from the
body (api_key, api_base, fallbacks, mock_response, per-call Langfuse keys, ...); an
allow-list keeps every one of them, including those added in future LiteLLM releases,
away from callers. A caller's own `metadata` is replaced: it is where LiteLLM takes the
trace, session and user ids from, so passing it would let a caller write into another
client's traces.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from gateway.clients import Client
from gateway.errors import GatewayError

OPENAI_CHAT_FIELDS = frozenset({
    "messages", "model", "audio", "frequency_penalty", "function_call", "functions",
    "logit_bias", "logprobs", "max_completion_tokens", "max_tokens", "modalities", "n",
    "parallel_tool_calls", "prediction", "presence_penalty", "prompt_cache_key",
    "reasoning_effort", "response_format", "safety_identifier", "seed", "service_tier",
    "stop", "store", "stream", "stream_options", "temperature", "tool_choice", "tools",
    "top_logprobs", "top_p", "user", "verbosity", "web_search_options",
})  # fmt: skip
MESSAGE_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
TOOL_CHOICE_MODES = frozenset({"none", "auto", "required"})

# The JSON types of OpenAI's scalar fields. Checked here because LiteLLM answers some
# wrongly typed values (say, an object as max_tokens) with a 500 instead of a 400.
_INTEGER, _NUMBER, _BOOLEAN = "an integer", "a number", "true or false"
_STRING, _OBJECT, _ARRAY = "a string", "an object", "an array"
FIELD_TYPES: dict[str, str] = {
    "max_tokens": _INTEGER, "max_completion_tokens": _INTEGER, "n": _INTEGER,
    "seed": _INTEGER, "top_logprobs": _INTEGER,
    "temperature": _NUMBER, "top_p": _NUMBER, "frequency_penalty": _NUMBER,
    "presence_penalty": _NUMBER,
    "stream": _BOOLEAN, "logprobs": _BOOLEAN, "parallel_tool_calls": _BOOLEAN,
    "store": _BOOLEAN,
    "user": _STRING, "reasoning_effort": _STRING, "service_tier": _STRING,
    "stream_options": _OBJECT, "response_format": _OBJECT, "logit_bias": _OBJECT,
    "tools": _ARRAY, "functions": _ARRAY,
}  # fmt: skip
_CHECKS = {
    _INTEGER: lambda v: isinstance(v, int) and not isinstance(v, bool),
    _NUMBER: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    _BOOLEAN: lambda v: isinstance(v, bool),
    _STRING: lambda v: isinstance(v, str),
    _OBJECT: lambda v: isinstance(v, dict),
    _ARRAY: lambda v: isinstance(v, list),
}


def _check_message(index: int, message: dict[str, Any]) -> None:
    """The parts of a message every provider needs: content (only an assistant turn that
    calls tools may omit it), a string name, the id of the call a tool result answers, and
    each tool call's id, type and (for a function) name and JSON arguments."""
    where = f"messages[{index}]"
    content = message.get("content")
    if content is None and not (message["role"] == "assistant" and message.get("tool_calls")):
        raise _bad(f"`{where}.content` is required for a {message['role']} message",
                   f"{where}.content")  # fmt: skip
    if not (content is None or isinstance(content, str) or (
        isinstance(content, list) and content and all(isinstance(p, dict) for p in content)
    )):  # fmt: skip
        raise _bad(f"`{where}.content` must be a string or a non-empty array of parts",
                   f"{where}.content")  # fmt: skip
    if "name" in message and not isinstance(message["name"], str):
        raise _bad(f"`{where}.name` must be a string", f"{where}.name")
    if message["role"] == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise _bad(f"`{where}.tool_call_id` is required for a tool message",
                   f"{where}.tool_call_id")  # fmt: skip
    calls = message.get("tool_calls")
    if calls is not None and not isinstance(calls, list):
        raise _bad(f"`{where}.tool_calls` must be an array", f"{where}.tool_calls")
    for number, call in enumerate(calls or ()):
        at = f"{where}.tool_calls[{number}]"
        if not (isinstance(call, dict) and isinstance(call.get("id"), str)
                and isinstance(call.get("type"), str)):  # fmt: skip
            raise _bad(f"`{at}` must be an object with a string `id` and `type`", at)
        if call["type"] == "function":
            _check_function(call.get("function"), f"{at}.function", is_call=True)


def _check_function(function: Any, where: str, *, is_call: bool) -> None:
    """A function tool's definition (parameters: a schema object) or a call of one
    (arguments: JSON text), each with its name."""
    if not (isinstance(function, dict) and isinstance(function.get("name"), str)
            and function["name"]):  # fmt: skip
        raise _bad(f"`{where}` must be an object with a non-empty string `name`", where)
    if is_call and not isinstance(function.get("arguments"), str):
        raise _bad(f"`{where}.arguments` must be a string (the arguments as JSON)",
                   f"{where}.arguments")  # fmt: skip
    if not is_call and not isinstance(function.get("parameters", {}), dict):
        raise _bad(f"`{where}.parameters` must be a JSON schema object", f"{where}.parameters")


def _check_tools(payload: dict[str, Any]) -> None:
    """The tools' shape. LiteLLM answers some malformed tools with a 500 (a function tool
    without its function, parameters that are not an object) and silently drops others (a
    tool or tool_choice it cannot read), so the caller would never learn of the mistake."""
    for index, tool in enumerate(payload.get("tools") or ()):
        where = f"tools[{index}]"
        if not (isinstance(tool, dict) and isinstance(tool.get("type"), str)):
            raise _bad(f"`{where}` must be an object with a string `type`", where)
        if tool["type"] == "function":
            _check_function(tool.get("function"), f"{where}.function", is_call=False)
    choice = payload.get("tool_choice")
    if choice is None or (isinstance(choice, str) and choice in TOOL_CHOICE_MODES):
        return
    if not (isinstance(choice, dict) and isinstance(choice.get("type"), str)):
        raise _bad(f"`tool_choice` must be one of {', '.join(sorted(TOOL_CHOICE_MODES))} or "
                   "an object with a string `type`", "tool_choice")  # fmt: skip
    if choice["type"] == "function":
        function = choice.get("function")
        if not (isinstance(function, dict) and isinstance(function.get("name"), str)):
            raise _bad("`tool_choice.function.name` must be a string", "tool_choice.function")


def _check_types(payload: dict[str, Any]) -> None:
    for name, expected in FIELD_TYPES.items():
        value = payload.get(name)
        if value is not None and not _CHECKS[expected](value):
            raise _bad(f"`{name}` must be {expected}", name)
    stop = payload.get("stop")
    if not (stop is None or isinstance(stop, str) or (
        isinstance(stop, list) and all(isinstance(s, str) for s in stop)
    )):  # fmt: skip
        raise _bad("`stop` must be a string or an array of strings", "stop")


MAX_ID_LENGTH = 256


@dataclass(slots=True)
class LlmRequest:
    """A validated request of one of the gateway's LLM APIs, as it goes to LiteLLM; not
    changed after parsing (not frozen: a frozen dataclass's init costs a microsecond more,
    on every request)."""

    model: str
    stream: bool
    # What LiteLLM gets, but the metadata (upstream_body adds it).
    body: dict[str, Any]
    # Fields the gateway itself keeps back: not part of the API, or set by the gateway.
    dropped_fields: tuple[str, ...]
    # Where LiteLLM reads its metadata for this API (`litellm_metadata` for /v1/messages,
    # whose `metadata` is Anthropic's own); None where nothing is traced (count_tokens).
    metadata_field: str | None = "metadata"
    # The end user the body names (chat's `user`, Anthropic's `metadata.user_id`).
    end_user: str | None = None
    # For a stream: whether the caller asked for the usage chunk (the gateway always asks
    # LiteLLM for it, to count the tokens, and passes it on only then).
    wants_usage: bool = True


def _bad(message: str, param: str | None = None) -> GatewayError:
    return GatewayError(400, message, code="invalid_request", param=param)


def parse_chat_request(payload: Any) -> LlmRequest:
    """Validate the parts the gateway relies on; OpenAI-known fields pass unexamined."""
    if not isinstance(payload, dict):
        raise _bad("the request body must be a JSON object (a chat completion request)")
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("`model` is required and must be a non-empty string", "model")
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("`messages` is required and must be a non-empty array", "messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _bad(f"`messages[{index}]` must be an object", f"messages[{index}]")
        role = message.get("role")
        if not isinstance(role, str) or role not in MESSAGE_ROLES:
            raise _bad(
                f"`messages[{index}].role` must be one of {', '.join(sorted(MESSAGE_ROLES))}",
                f"messages[{index}].role",
            )
        _check_message(index, message)
    _check_types(payload)
    _check_tools(payload)
    stream = payload.get("stream") is True
    body = {k: v for k, v in payload.items() if k in OPENAI_CHAT_FIELDS}
    dropped = tuple(sorted(k for k in payload if k not in OPENAI_CHAT_FIELDS))
    wants_usage = True
    if stream:
        # Every stream is asked for its usage, so that its tokens are counted (metrics, the
        # log, tokens-per-minute limits); the relay drops the usage chunk for a caller that
        # did not ask for it.
        options = body.get("stream_options") or {}
        wants_usage = options.get("include_usage") is True
        body["stream_options"] = {**options, "include_usage": True}
    user = body.get("user")
    return LlmRequest(
        model=model, stream=stream, body=body, dropped_fields=dropped,
        end_user=user if isinstance(user, str) else None, wants_usage=wants_usage,
    )  # fmt: skip


def checked_id(value: str | None, header: str) -> str | None:
    """A caller-supplied id (user, session, request): bounded and printable, or a 400."""
    if value is None or value == "":
        return None
    if len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise _bad(f"`{header}` must be printable and at most {MAX_ID_LENGTH} characters")
    return value


def litellm_metadata(
    client: Client,
    request_id: str,
    user_id: str | None,
    session_id: str | None,
    *,
    model: str | None = None,
    api: str = "chat.completions",
    trace_id: str | None = None,
    attempt: int = 1,
) -> dict[str, Any]:
    """LiteLLM's request metadata, which its Langfuse callback turns into the trace.

    One trace per caller request (`trace_id`, fresh unless given: the attempts of one
    request share it), grouped into the caller's session by `session_id`. The generation
    hangs under an observation id that nothing exports (`parent_observation_id`): Langfuse
    then builds the trace from the `langfuse.trace.*` attributes alone, so the trace's
    metadata is the gateway's `trace_metadata`, not LiteLLM's observation metadata (request
    and provider headers); its trace view shows the generation at the top level. How
    Langfuse 3.224.1 reads each attribute: README.md, "What Langfuse captures".
    """
    trace_id = trace_id or secrets.token_hex(16)
    name = f"{api} {model}" if model else api
    metadata: dict[str, Any] = {
        "tags": [f"client:{client.name}"],
        "trace_id": trace_id,
        "parent_observation_id": trace_id[:16],
        "trace_name": f"gateway/{client.name}",
        "generation_name": name if attempt == 1 else f"{name} (attempt {attempt})",
        "trace_metadata": {"client": client.name, "request_id": request_id, "api": api}
        | ({"model": model} if model else {}),
    }
    if user_id is not None:
        metadata["trace_user_id"] = user_id
    if session_id is not None:
        metadata["session_id"] = session_id
    return metadata


def upstream_body(request: LlmRequest, metadata: dict[str, Any]) -> dict[str, Any]:
    """The body LiteLLM gets: the request's, with the gateway's metadata where LiteLLM reads it."""
    if request.metadata_field is None:
        return request.body
    return request.body | {request.metadata_field: metadata}
