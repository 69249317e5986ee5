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

_ANTHROPIC_ERROR = {
    "type": "object",
    "required": ["type", "error"],
    "properties": {
        "type": {"const": "error"},
        "error": {"type": "object", "required": ["type", "message"], "properties": {
            "type": {"type": "string"}, "message": {"type": "string"},
        }},
        "request_id": {"type": "string"},
    },
}  # fmt: skip

_BLOCKS = {"type": "array", "minItems": 1,
           "items": {"type": "object", "required": ["type"],
                     "properties": {"type": {"type": "string"}}}}  # fmt: skip
_ANTHROPIC_MESSAGE = {
    "type": "object",
    "required": ["role", "content"],
    "properties": {
        "role": {"type": "string", "enum": ["user", "assistant"]},
        "content": {"oneOf": [{"type": "string"}, _BLOCKS]},
    },
}
_MESSAGES_REQUEST = {
    "type": "object",
    "required": ["model", "messages", "max_tokens"],
    "description": "Anthropic's Messages API request, for every model the client may use. "
    "Fields the API does not define, and `metadata` keys but `user_id`, are dropped and named "
    "in x-gateway-dropped-fields.",
    "properties": {
        "model": {"type": "string", "example": "claude-sonnet"},
        "messages": {"type": "array", "minItems": 1, "items": _ANTHROPIC_MESSAGE},
        "max_tokens": {"type": "integer", "minimum": 1},
        "system": {"oneOf": [{"type": "string"}, _BLOCKS]},
        "stream": {"type": "boolean"},
        "temperature": {"type": "number", "minimum": 0, "maximum": 1},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "top_k": {"type": "integer", "minimum": 1},
        "stop_sequences": {"type": "array", "items": {"type": "string"}},
        "metadata": {"type": "object", "properties": {"user_id": {"type": "string"}}},
    },
}  # fmt: skip
_COUNT_TOKENS_REQUEST = {
    "type": "object",
    "required": ["model", "messages"],
    "properties": {
        "model": {"type": "string", "example": "claude-sonnet"},
        "messages": {"type": "array", "minItems": 1, "items": _ANTHROPIC_MESSAGE},
        "system": {"oneOf": [{"type": "string"}, _BLOCKS]},
    },
}
_ANTHROPIC_VERSION = {
    "name": "anthropic-version", "in": "header", "required": True,
    "schema": {"type": "string", "enum": ["2023-06-01", "2023-01-01"]},
    "description": "Required, as by Anthropic; the Anthropic SDK sends it.",
}  # fmt: skip

_ID_HEADERS: list[dict[str, Any]] = [
    {"name": name, "in": "header", "required": False,
     "schema": {"type": "string", "maxLength": 256}, "description": description}
    for name, description in (
        ("X-Request-Id", "Echoed back; generated when absent."),
        ("X-User-Id", "The end user, recorded as the trace's user in Langfuse."),
        ("X-Session-Id", "Groups the calls of one conversation into one Langfuse session (a "
         "trace per call)."),
    )
]  # fmt: skip


def _json_or_stream(description: str) -> dict[str, Any]:
    """The 200 answer of an LLM call: a JSON object, or an SSE stream when `stream` is set."""
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/event-stream": {"schema": {"type": "string"}},
        },
    }


def _errors(*statuses: int, schema: str = "Error") -> dict[str, Any]:
    return {
        str(status): {"description": description, "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}
        }}
        for status, description in (
            (400, "Invalid JSON, not a request of this API, or a field the client's provider "
             "would not get (for a client that refuses those)"),
            (401, "Missing or wrong API key"),
            (403, "This client may not use the model"),
            (404, "No such model, or this client may not use it"),
            (413, "Body over the size limit"),
            (415, "Content-Type is not application/json"),
            (429, "Rate limit reached (Retry-After says when to retry)"),
            (500, "The provider failed (x-gateway-error-source: upstream)"),
            (502, "LiteLLM failed or closed the connection"),
            (503, "LiteLLM unreachable, or the provider overloaded (Retry-After)"),
            (504, "LiteLLM did not answer in time"),
            (529, "Anthropic overloaded (Messages API)"),
        )
        if status in statuses
    }  # fmt: skip


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Shared AI Gateway",
            "version": "1.0.0",
            "description": "Access to Claude and Groq for internal backends: OpenAI's chat "
            "completions and Anthropic's Messages API, for every model a client may use.",
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
            },
            "schemas": {
                "Error": _ERROR, "AnthropicError": _ANTHROPIC_ERROR,
                "ChatCompletionRequest": _CHAT_REQUEST, "MessagesRequest": _MESSAGES_REQUEST,
                "CountTokensRequest": _COUNT_TOKENS_REQUEST,
            },
        },
        "paths": {
            "/v1/chat/completions": {"post": {
                "operationId": "createChatCompletion",
                "security": [{"bearer": []}, {"apiKey": []}],
                "parameters": _ID_HEADERS,
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/ChatCompletionRequest"}
                }}},
                "responses": {
                    "200": _json_or_stream("A chat completion, or an SSE stream of chunks"),
                    **_errors(400, 401, 403, 413, 415, 429, 500, 502, 503, 504),
                },
            }},
            "/v1/messages": {"post": {
                "operationId": "createMessage",
                "description": "Anthropic's Messages API (LiteLLM's Anthropic-format endpoint); "
                "errors in Anthropic's shape.",
                "security": [{"apiKey": []}, {"bearer": []}],
                "parameters": [_ANTHROPIC_VERSION, *_ID_HEADERS],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/MessagesRequest"}
                }}},
                "responses": {
                    "200": _json_or_stream("A message, or an SSE stream of Anthropic's events"),
                    **_errors(400, 401, 403, 413, 415, 429, 500, 502, 503, 504, 529,
                              schema="AnthropicError"),
                },
            }},
            "/v1/messages/count_tokens": {"post": {
                "operationId": "countMessageTokens",
                "security": [{"apiKey": []}, {"bearer": []}],
                "parameters": [_ANTHROPIC_VERSION],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/CountTokensRequest"}
                }}},
                "responses": {
                    "200": {"description": "The request's input tokens", "content": {
                        "application/json": {"schema": {"type": "object", "properties": {
                            "input_tokens": {"type": "integer"}}}}}},
                    **_errors(400, 401, 403, 404, 413, 415, 429, 500, 502, 503, 504,
                              schema="AnthropicError"),
                },
            }},
            "/v1/models": {"get": {
                "operationId": "listModels",
                "security": [{"bearer": []}, {"apiKey": []}],
                "responses": {"200": {"description": "The models this client may use",
                                      "content": {"application/json": {"schema": {
                                          "type": "object"}}}},
                              **_errors(401)},
            }},
            "/v1/models/{model}": {"get": {
                "operationId": "retrieveModel",
                "security": [{"bearer": []}, {"apiKey": []}],
                "parameters": [{"name": "model", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {"200": {"description": "The model, if this client may use it",
                                      "content": {"application/json": {"schema": {
                                          "type": "object"}}}},
                              **_errors(401, 404)},
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
