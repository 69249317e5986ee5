"""Anthropic's Messages API (POST /v1/messages), shaped like the real one.

Shapes follow the official ``anthropic`` SDK's models: the Message object (a text or a
tool_use content block), the SSE event sequence (message_start, content_block_start, ping,
content_block_delta..., content_block_stop, message_delta, message_stop; text_delta or
input_json_delta deltas) and the ``{"type":"error","error":{...}}`` error body. Requests
are read in anthropic_request.py.
"""

import json
import uuid
from collections.abc import Set
from typing import Any

from aiohttp import web

from provider_emulator.anthropic_request import (
    parse_conversation,
    parse_output_format,
    parse_tool_choice,
    parse_tools,
)
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
    text_of_content,
    to_json,
)
from provider_emulator.errors import ApiError
from provider_emulator.tokens import Answer, count_tokens

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
FAULT_MESSAGES = {
    429: "emulated rate limit: this request asked for status=429",
    500: "emulated internal server error",
    # The real body says just "Overloaded"; the suffix lets tests find it downstream.
    529: "Overloaded (emulated)",
}


class AnthropicApi(ProviderApi):
    name = "anthropic"
    fault_messages = FAULT_MESSAGES

    def __init__(self, keys: Set[str]) -> None:
        self._keys = keys

    def check_request(self, request: web.Request) -> None:
        if not key_accepted(request.headers.get("x-api-key"), self._keys):
            raise ApiError(401, "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            raise ApiError(400, "anthropic-version: header is required")

    def parse_body(self, body: dict[str, Any]) -> ChatRequest:
        model = require_str(body, "model")
        if "max_tokens" not in body:
            raise bad("max_tokens", "Field required")
        max_tokens = optional_int(body, "max_tokens", minimum=1)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise bad("messages", "must be a non-empty list of messages")
        tools = parse_tools(body.get("tools"))
        choice = parse_tool_choice(body.get("tool_choice"))
        tool_choice = checked_choice(choice, tools, "tool_choice")
        output = parse_output_format(body)
        conversation = parse_conversation(messages)
        input_tokens = (
            count_tokens(_system_text(body.get("system")))
            + conversation.tokens
            + sum(tool.tokens for tool in tools)
            + (schema_tokens(output.schema) if output.schema is not None else 0)
        )
        stream = optional_bool(body, "stream")
        optional_number(body, "temperature", 0.0, 1.0)
        optional_number(body, "top_p", 0.0, 1.0)
        stop_sequences = body.get("stop_sequences")
        if stop_sequences is not None and not (
            isinstance(stop_sequences, list) and all(isinstance(s, str) for s in stop_sequences)
        ):
            raise bad("stop_sequences", "must be a list of strings")
        if body.get("metadata") is not None and not isinstance(body["metadata"], dict):
            raise bad("metadata", "must be an object")
        return ChatRequest(
            model=model,
            stream=stream,
            max_tokens=max_tokens,
            input_tokens=input_tokens,
            last_user_text=conversation.last_user_text,
            tools=tools,
            tool_choice=tool_choice,
            last_turn=conversation.last_turn,
            tool_results=conversation.tool_results,
            output=output,
        )

    def error_response(self, error: ApiError, request_id: str) -> web.Response:
        kind = ERROR_TYPES.get(
            error.status, "invalid_request_error" if error.status < 500 else "api_error"
        )
        headers = self.response_headers(request_id)
        if error.retry_after is not None:
            headers["retry-after"] = str(error.retry_after)
        body = {
            "type": "error",
            "error": {"type": kind, "message": error.message},
            "request_id": request_id,
        }
        return web.json_response(
            body,
            status=error.status,
            reason=reason_phrase(error.status),
            headers=headers,
            dumps=to_json,
        )

    def response_headers(self, request_id: str) -> dict[str, str]:
        return {"request-id": request_id}

    def completion(self, chat: ChatRequest, answer: Answer, request_id: str) -> web.Response:
        message = _message(chat, _message_id(), content=[_content_block(answer, complete=True)])
        message["stop_reason"] = _stop_reason(answer)
        message["usage"] = _usage(chat.input_tokens, answer.output_tokens)
        return web.json_response(message, headers=self.response_headers(request_id), dumps=to_json)

    def stream_frames(self, chat: ChatRequest, answer: Answer, request_id: str) -> StreamFrames:
        start = _message(chat, _message_id(), content=[])
        # Like the real API: message_start reports output_tokens=1, message_delta the total.
        start["usage"] = _usage(chat.input_tokens, 1)
        # A tool call streams its input as JSON text fragments, after an empty one.
        kind, key = ("text_delta", "text")
        if answer.tool_name is not None:
            kind, key = ("input_json_delta", "partial_json")

        def delta(piece: str) -> bytes:
            return _event("content_block_delta", {"index": 0, "delta": {"type": kind, key: piece}})

        preamble = [
            _event("message_start", {"message": start}),
            _event(
                "content_block_start",
                {"index": 0, "content_block": _content_block(answer, complete=False)},
            ),
            _event("ping", {}),
        ]
        if answer.tool_name:
            preamble.append(delta(""))
        closing = [
            _event("content_block_stop", {"index": 0}),
            _event(
                "message_delta",
                {
                    "delta": {"stop_reason": _stop_reason(answer), "stop_sequence": None},
                    # Cumulative, like the current real API (input_tokens repeated).
                    "usage": _usage(chat.input_tokens, answer.output_tokens),
                },
            ),
            _event("message_stop", {}),
        ]
        return StreamFrames(
            preamble=preamble, content=[delta(piece) for piece in answer.pieces], closing=closing
        )


def _system_text(system: Any) -> str:
    if system is None:
        return ""
    return text_of_content(system, "system")


def _message_id() -> str:
    return f"msg_{uuid.uuid4().hex[:24]}"


def _content_block(answer: Answer, *, complete: bool) -> dict[str, Any]:
    """The answer's one content block: text, or a tool_use with its input (empty in a
    stream's content_block_start, and when max_tokens cut the input's JSON short)."""
    if answer.tool_name is None:
        return {"type": "text", "text": answer.text if complete else ""}
    arguments = json.loads(answer.text) if complete and not answer.truncated else {}
    return {"type": "tool_use", "id": _tool_use_id(), "name": answer.tool_name, "input": arguments}


def _tool_use_id() -> str:
    return f"toolu_{uuid.uuid4().hex[:24]}"


def _message(chat: ChatRequest, message_id: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": chat.model,
        "content": content,
        "stop_reason": None,
        "stop_sequence": None,
    }


def _stop_reason(answer: Answer) -> str:
    if answer.truncated:
        return "max_tokens"
    return "tool_use" if answer.tool_name else "end_turn"


def _usage(input_tokens: int, output_tokens: int) -> dict[str, int]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def _event(kind: str, data: dict[str, Any]) -> bytes:
    payload = to_json({"type": kind, **data})
    return f"event: {kind}\ndata: {payload}\n\n".encode()
