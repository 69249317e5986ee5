"""Groq's OpenAI-compatible chat completions (POST /openai/v1/chat/completions).

Shapes follow the official ``openai`` SDK's models plus what Groq adds: ``x_groq`` (with
the usage in a stream's last chunk, where Groq always puts it) and ``service_tier``, which
LiteLLM's Groq provider reads and fails on (as a misleading connection error) if absent.
A tool call is the message's ``tool_calls`` (content null); streamed, its first chunk names
the call and later chunks carry argument fragments. Requests are read in openai_request.py.
"""

import time
import uuid
from collections.abc import Set
from typing import Any

from aiohttp import web

from provider_emulator.chat import (
    ChatRequest,
    ProviderApi,
    StreamFrames,
    bad,
    checked_choice,
    key_accepted,
    optional_bool,
    optional_int,
    optional_number,
    reason_phrase,
    require_str,
    schema_tokens,
    to_json,
)
from provider_emulator.errors import ApiError
from provider_emulator.openai_request import (
    parse_conversation,
    parse_response_format,
    parse_tool_choice,
    parse_tools,
)
from provider_emulator.tokens import Answer

# (type, code) per status, as Groq / OpenAI send them.
ERROR_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_denied", "permission_denied"),
    404: ("invalid_request_error", "model_not_found"),
    413: ("invalid_request_error", "request_too_large"),
    429: ("tokens", "rate_limit_exceeded"),
    500: ("internal_server_error", "internal_server_error"),
    503: ("service_unavailable", "service_unavailable"),
}
FAULT_MESSAGES = {
    429: "emulated rate limit reached (rate_limit_exceeded): this request asked for status=429",
    500: "emulated internal server error",
    503: "emulated service unavailable",
}
SERVICE_TIER = "on_demand"
SYSTEM_FINGERPRINT = "fp_emulator"


class OpenAiApi(ProviderApi):
    name = "openai"
    fault_messages = FAULT_MESSAGES

    def __init__(self, keys: Set[str]) -> None:
        self._keys = keys

    def check_request(self, request: web.Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key_accepted(token.strip(), self._keys):
            raise ApiError(401, "Invalid API Key")

    def parse_body(self, body: dict[str, Any]) -> ChatRequest:
        model = require_str(body, "model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise bad("messages", "must be a non-empty list of messages")
        conversation = parse_conversation(messages)
        for legacy in ("functions", "function_call"):
            if body.get(legacy) is not None:
                raise bad(legacy, "the deprecated functions API is not emulated; use tools")
        tools = parse_tools(body.get("tools"))
        choice = parse_tool_choice(body.get("tool_choice"))
        tool_choice = checked_choice(choice, tools, "tool_choice")
        optional_bool(body, "parallel_tool_calls")  # one call per answer anyway
        output = parse_response_format(body.get("response_format"))
        input_tokens = (
            conversation.tokens
            + sum(tool.tokens for tool in tools)
            + (schema_tokens(output.schema) if output.schema is not None else 0)
        )
        # max_completion_tokens is the newer name; when both are sent it wins, as at OpenAI.
        max_tokens = optional_int(body, "max_completion_tokens", minimum=1)
        if max_tokens is None:
            max_tokens = optional_int(body, "max_tokens", minimum=1)
        n = optional_int(body, "n", minimum=1)
        if n not in (None, 1):
            raise bad("n", "only n=1 is emulated")
        optional_number(body, "temperature", 0.0, 2.0)
        optional_number(body, "top_p", 0.0, 1.0)
        stream = optional_bool(body, "stream")
        options = body.get("stream_options")
        if options is not None and not isinstance(options, dict):
            raise bad("stream_options", "must be an object")
        include_usage = optional_bool(options or {}, "include_usage")
        return ChatRequest(
            model=model,
            stream=stream,
            max_tokens=max_tokens,
            input_tokens=input_tokens,
            last_user_text=conversation.last_user_text,
            include_usage=include_usage,
            tools=tools,
            tool_choice=tool_choice,
            last_turn=conversation.last_turn,
            tool_results=conversation.tool_results,
            output=output,
        )

    def error_response(self, error: ApiError, request_id: str) -> web.Response:
        kind, code = ERROR_KINDS.get(
            error.status,
            ("invalid_request_error" if error.status < 500 else "api_error", None),
        )
        headers = self.response_headers(request_id)
        if error.retry_after is not None:
            headers["retry-after"] = str(error.retry_after)
        body = {
            "error": {"message": error.message, "type": kind, "param": error.param, "code": code}
        }
        return web.json_response(
            body,
            status=error.status,
            reason=reason_phrase(error.status),
            headers=headers,
            dumps=to_json,
        )

    def response_headers(self, request_id: str) -> dict[str, str]:
        return {"x-request-id": request_id}

    def completion(self, chat: ChatRequest, answer: Answer, request_id: str) -> web.Response:
        message: dict[str, Any] = {"role": "assistant", "content": answer.text}
        if answer.tool_name is not None:
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [_tool_call(_tool_call_id(), answer.tool_name, answer.text)],
            }
        body = {
            **_envelope("chat.completion", chat, _completion_id()),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": _finish_reason(answer),
                }
            ],
            "usage": _usage(chat, answer),
            "x_groq": {"id": request_id},
        }
        return web.json_response(body, headers=self.response_headers(request_id), dumps=to_json)

    def stream_frames(self, chat: ChatRequest, answer: Answer, request_id: str) -> StreamFrames:
        envelope = _envelope("chat.completion.chunk", chat, _completion_id())
        if chat.include_usage:
            envelope["usage"] = None  # as at OpenAI: null on every chunk but the usage chunk

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            return {**envelope, "choices": [choice]}

        def piece_delta(piece: str) -> dict[str, Any]:
            if answer.tool_name is None:
                return {"content": piece}
            # As at OpenAI: later fragments of a call carry only its index and arguments.
            return {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}

        usage = _usage(chat, answer)
        # Like Groq: x_groq on the first chunk, and on the last one with the usage.
        first = chunk({"role": "assistant", "content": ""})
        if answer.tool_name is not None:
            # The first chunk names the call: its index, id, type and function name.
            call = {"index": 0, **_tool_call(_tool_call_id(), answer.tool_name, "")}
            first = chunk({"role": "assistant", "content": None, "tool_calls": [call]})
        first["x_groq"] = {"id": request_id}
        last = chunk({}, _finish_reason(answer))
        last["x_groq"] = {"id": request_id, "usage": usage}
        closing = [_data(last)]
        if chat.include_usage:
            closing.append(_data({**envelope, "choices": [], "usage": usage}))
        closing.append(b"data: [DONE]\n\n")
        return StreamFrames(
            preamble=[_data(first)],
            content=[_data(chunk(piece_delta(piece))) for piece in answer.pieces],
            closing=closing,
        )


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4()}"


def _envelope(kind: str, chat: ChatRequest, completion_id: str) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": kind,
        "created": int(time.time()),
        "model": chat.model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "service_tier": SERVICE_TIER,
    }


def _finish_reason(answer: Answer) -> str:
    if answer.truncated:
        return "length"
    return "tool_calls" if answer.tool_name else "stop"


def _tool_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def _tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _usage(chat: ChatRequest, answer: Answer) -> dict[str, int]:
    return {
        "prompt_tokens": chat.input_tokens,
        "completion_tokens": answer.output_tokens,
        "total_tokens": chat.input_tokens + answer.output_tokens,
    }


def _data(chunk: dict[str, Any]) -> bytes:
    return f"data: {to_json(chunk)}\n\n".encode()
