"""The gateway's OpenAPI document, served at /openapi.json and fuzzed by the tests."""

from __future__ import annotations

from typing import Any

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}

_MESSAGE = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {"type": "string", "enum": ["system", "developer", "user", "assistant", "tool"]},
        "content": {
            "oneOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "object"}},
                {"type": "null"},
            ]
        },
        "name": {"type": "string"},
    },
}

_CHAT_REQUEST = {
    "type": "object",
    "required": ["model", "messages"],
    "description": "OpenAI's chat completion request. Fields OpenAI does not define are dropped "
    "and named in the x-gateway-dropped-fields response header; `metadata` is set by the gateway.",
    "properties": {
        "model": {"type": "string", "example": "claude-sonnet"},
        "messages": {"type": "array", "minItems": 1, "items": _MESSAGE},
        "stream": {"type": "boolean"},
        "stream_options": {
            "type": "object", "properties": {"include_usage": {"type": "boolean"}},
        },
        "max_tokens": {"type": "integer", "minimum": 1},
        "max_completion_tokens": {"type": "integer", "minimum": 1},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "stop": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "user": {"type": "string"},
        "seed": {"type": "integer"},
        "n": {"type": "integer", "minimum": 1},
    },
}  # fmt: skip

_ID_HEADERS: list[dict[str, Any]] = [
    {"name": name, "in": "header", "required": False,
     "schema": {"type": "string", "maxLength": 256}, "description": description}
    for name, description in (
        ("X-Request-Id", "Echoed back; generated when absent."),
        ("X-User-Id", "The end user, recorded as the trace's user in Langfuse."),
        ("X-Session-Id", "Groups calls of one conversation into one Langfuse trace."),
    )
]  # fmt: skip


def _errors(*statuses: int) -> dict[str, Any]:
    return {
        str(status): {"description": description, "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
        }}
        for status, description in (
            (400, "Invalid JSON or not a chat completion request"),
            (401, "Missing or wrong API key"),
            (403, "This client may not use the model"),
            (413, "Body over the size limit"),
            (415, "Content-Type is not application/json"),
            (429, "Rate limit reached (Retry-After says when to retry)"),
            (502, "LiteLLM failed or closed the connection"),
            (503, "LiteLLM unreachable (Retry-After)"),
            (504, "LiteLLM did not answer in time"),
        )
        if status in statuses
    }  # fmt: skip


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Shared AI Gateway",
            "version": "1.0.0",
            "description": "OpenAI-compatible access to Claude and Groq for internal backends.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": _ERROR, "ChatCompletionRequest": _CHAT_REQUEST},
        },
        "paths": {
            "/v1/chat/completions": {"post": {
                "operationId": "createChatCompletion",
                "security": [{"bearer": []}],
                "parameters": _ID_HEADERS,
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/ChatCompletionRequest"}
                }}},
                "responses": {
                    "200": {"description": "A chat completion, or an SSE stream of chunks",
                            "content": {"application/json": {"schema": {"type": "object"}},
                                        "text/event-stream": {"schema": {"type": "string"}}}},
                    **_errors(400, 401, 403, 413, 415, 429, 502, 503, 504),
                },
            }},
            "/v1/models": {"get": {
                "operationId": "listModels",
                "security": [{"bearer": []}],
                "responses": {"200": {"description": "The models this client may use",
                                      "content": {"application/json": {"schema": {
                                          "type": "object"}}}},
                              **_errors(401)},
            }},
            "/healthz": {"get": {"operationId": "liveness",
                                 "responses": {"200": {"description": "The process is alive"}}}},
            "/readyz": {"get": {"operationId": "readiness", "responses": {
                "200": {"description": "Serving; LiteLLM and Redis state in the body"},
                "503": {"description": "Starting or shutting down"}}}},
            "/metrics": {"get": {"operationId": "metrics",
                                 "responses": {"200": {"description": "Prometheus metrics"}}}},
        },
    }  # fmt: skip
