"""Groq's OpenAI-compatible chat completions (POST /openai/v1/chat/completions).

Shapes follow the official ``openai`` SDK's models plus what Groq adds: ``x_groq`` (with
the usage in a stream's last chunk, where Groq always puts it) and ``service_tier``, which
LiteLLM's Groq provider reads and fails on (as a misleading connection error) if absent.
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
ROLES = ("system", "developer", "user", "assistant")
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
        input_tokens = 0
        last_user_text = ""
        for index, message in enumerate(messages):
            if not isinstance(message, dict):
                raise bad(f"messages.{index}", "must be an object with role and content")
            role = message.get("role")
            if role not in ROLES:
                raise bad(f"messages.{index}.role", f"must be one of {', '.join(ROLES)}")
            content = message.get("content")
            # An assistant turn may carry no content; tool calls are not emulated.
            text = "" if content is None and role == "assistant" else None
            if text is None:
                text = text_of_content(content, f"messages.{index}.content")
            input_tokens += count_tokens(text)
            if role == "user":
                last_user_text = text
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
            last_user_text=last_user_text,
            include_usage=include_usage,
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
        body = {
            **_envelope("chat.completion", chat, _completion_id()),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.text},
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

        def chunk(delta: dict[str, str], finish_reason: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            return {**envelope, "choices": [choice]}

        usage = _usage(chat, answer)
        # Like Groq: x_groq on the first chunk, and on the last one with the usage.
        first = chunk({"role": "assistant", "content": ""})
        first["x_groq"] = {"id": request_id}
        last = chunk({}, _finish_reason(answer))
        last["x_groq"] = {"id": request_id, "usage": usage}
        closing = [_data(last)]
        if chat.include_usage:
            closing.append(_data({**envelope, "choices": [], "usage": usage}))
        closing.append(b"data: [DONE]\n\n")
        return StreamFrames(
            preamble=[_data(first)],
            content=[_data(chunk({"content": piece})) for piece in answer.pieces],
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
    return "length" if answer.truncated else "stop"


def _usage(chat: ChatRequest, answer: Answer) -> dict[str, int]:
    return {
        "prompt_tokens": chat.input_tokens,
        "completion_tokens": answer.output_tokens,
        "total_tokens": chat.input_tokens + answer.output_tokens,
    }


def _data(chunk: dict[str, Any]) -> bytes:
    return f"data: {to_json(chunk)}\n\n".encode()
