"""Errors in the shape each API's SDKs read: OpenAI's for chat completions and the model list,
Anthropic's for the Messages API, so every SDK raises the error class its callers expect."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import orjson

# Which API's error shape an answer takes.
Shape = Literal["openai", "anthropic"]

# Anthropic's error types by status (https://docs.anthropic.com/en/api/errors).
_ANTHROPIC_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
    500: "api_error", 504: "timeout_error", 529: "overloaded_error",
}  # fmt: skip


def anthropic_type(status: int) -> str:
    if status in _ANTHROPIC_TYPES:
        return _ANTHROPIC_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


class GatewayError(Exception):
    """An error answer: status, the error's fields, and any extra headers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
        upstream: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        # Whether LiteLLM (or the provider behind it) produced this error, not the gateway:
        # answered as `x-gateway-error-source`, so dashboards and tests can tell them apart.
        # `x-should-retry: false`: the gateway is the one retry layer (gateway/retry.py), so
        # the OpenAI and Anthropic SDKs, which obey this header, do not retry on top of it.
        self.headers = {
            **(headers or {}),
            "x-gateway-error-source": "upstream" if upstream else "gateway",
            "x-should-retry": "false",
        }

    def body(self, shape: Shape = "openai", request_id: str | None = None) -> bytes:
        if shape == "anthropic":
            return anthropic_error_body(self.message, anthropic_type(self.status), request_id)
        return error_body(self.message, self.type, self.code, self.param)


def error_body(message: str, type_: str, code: str | None, param: str | None = None) -> bytes:
    return orjson.dumps(
        {"error": {"message": message, "type": type_, "param": param, "code": code}}
    )


def anthropic_error_body(message: str, type_: str, request_id: str | None = None) -> bytes:
    body: dict[str, object] = {"type": "error", "error": {"type": type_, "message": message}}
    if request_id is not None:
        body["request_id"] = request_id
    return orjson.dumps(body)


SSE_DONE = b"data: [DONE]\n\n"


def stream_error_event(shape: Shape, message: str, code: str, status: int) -> bytes:
    """The event that says a stream cannot finish: OpenAI's error chunk, or Anthropic's
    `error` event; their SDKs raise on either."""
    if shape == "anthropic":
        body = anthropic_error_body(message, anthropic_type(status))
        return b"event: error\ndata: " + body + b"\n\n"
    return b"data: " + error_body(message, "server_error", code) + b"\n\n"


def stream_end(shape: Shape, message: str, code: str, status: int) -> bytes:
    """The gateway's own end of a stream that cannot finish (then `[DONE]` for OpenAI's)."""
    event = stream_error_event(shape, message, code, status)
    return event + SSE_DONE if shape == "openai" else event
