"""Anthropic's Messages API (POST /v1/messages), shaped like the real one.

Shapes follow the official ``anthropic`` SDK's models: the Message object, the SSE event
sequence (message_start, content_block_start, ping, content_block_delta..., content_block_stop,
message_delta, message_stop) and the ``{"type":"error","error":{...}}`` error body.
"""

import uuid
from collections.abc import Set
from typing import Any

from aiohttp import web

from provider_emulator.chat import (
    ChatRequest,
    ProviderApi,
    StreamFrames,
    bad,
    key_accepted,
    optional_bool,
    optional_int,
    optional_number,
    reason_phrase,
    require_str,
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
ROLES = ("user", "assistant")


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
        input_tokens = count_tokens(_system_text(body.get("system")))
        last_user_text = ""
        for index, message in enumerate(messages):
            if not isinstance(message, dict):
                raise bad(f"messages.{index}", "must be an object with role and content")
            role = message.get("role")
            if role not in ROLES:
                raise bad(f"messages.{index}.role", f"must be one of {', '.join(ROLES)}")
            if "content" not in message:
                raise bad(f"messages.{index}.content", "Field required")
            text = text_of_content(message["content"], f"messages.{index}.content")
            input_tokens += count_tokens(text)
            if role == "user":
                last_user_text = text
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
            last_user_text=last_user_text,
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
        message = _message(chat, _message_id(), content=[{"type": "text", "text": answer.text}])
        message["stop_reason"] = _stop_reason(answer)
        message["usage"] = _usage(chat.input_tokens, answer.output_tokens)
        return web.json_response(message, headers=self.response_headers(request_id), dumps=to_json)

    def stream_frames(self, chat: ChatRequest, answer: Answer, request_id: str) -> StreamFrames:
        start = _message(chat, _message_id(), content=[])
        # Like the real API: message_start reports output_tokens=1, message_delta the total.
        start["usage"] = _usage(chat.input_tokens, 1)
        preamble = [
            _event("message_start", {"message": start}),
            _event(
                "content_block_start",
                {"index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            _event("ping", {}),
        ]
        content = [
            _event(
                "content_block_delta",
                {"index": 0, "delta": {"type": "text_delta", "text": piece}},
            )
            for piece in answer.pieces
        ]
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
        return StreamFrames(preamble=preamble, content=content, closing=closing)


def _system_text(system: Any) -> str:
    if system is None:
        return ""
    return text_of_content(system, "system")


def _message_id() -> str:
    return f"msg_{uuid.uuid4().hex[:24]}"


def _message(chat: ChatRequest, message_id: str, content: list[dict[str, str]]) -> dict[str, Any]:
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
    return "max_tokens" if answer.truncated else "end_turn"


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
