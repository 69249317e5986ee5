"""Errors in OpenAI's shape, so every OpenAI SDK reports them the way callers expect."""

from __future__ import annotations

from collections.abc import Mapping

import orjson


class GatewayError(Exception):
    """An error answer: status, OpenAI error body, and any extra headers."""

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
        self.headers = {**(headers or {}), "x-gateway-error-source": (
            "upstream" if upstream else "gateway"
        )}  # fmt: skip

    def body(self) -> bytes:
        return error_body(self.message, self.type, self.code, self.param)


def error_body(message: str, type_: str, code: str | None, param: str | None = None) -> bytes:
    return orjson.dumps(
        {"error": {"message": message, "type": type_, "param": param, "code": code}}
    )
