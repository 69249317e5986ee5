"""Errors in each API's shape, the headers every error carries, and the model objects both
SDKs read."""

from __future__ import annotations

import orjson
import pytest
from gateway.errors import GatewayError, stream_end
from gateway.models import model_list, model_object


@pytest.mark.parametrize(
    ("status", "anthropic_type"),
    [(400, "invalid_request_error"), (401, "authentication_error"), (403, "permission_error"),
     (404, "not_found_error"), (413, "request_too_large"), (429, "rate_limit_error"),
     (500, "api_error"), (502, "api_error"), (504, "timeout_error"), (529, "overloaded_error")],
)  # fmt: skip
def test_anthropic_errors_have_anthropics_types(status: int, anthropic_type: str) -> None:
    error = GatewayError(status, "what happened", code="x")
    assert orjson.loads(error.body("anthropic", "req-1")) == {
        "type": "error", "error": {"type": anthropic_type, "message": "what happened"},
        "request_id": "req-1"}  # fmt: skip
    assert orjson.loads(error.body()) == {
        "error": {
            "message": "what happened",
            "type": "invalid_request_error",
            "param": None,
            "code": "x",
        }
    }


def test_every_error_tells_the_sdks_not_to_retry_it() -> None:
    assert GatewayError(503, "down").headers["x-should-retry"] == "false"
    assert GatewayError(429, "slow", upstream=True).headers == {
        "x-gateway-error-source": "upstream", "x-should-retry": "false"}  # fmt: skip


def test_a_stream_ends_in_its_apis_shape() -> None:
    assert stream_end("openai", "m", "c", 502).endswith(b"\n\ndata: [DONE]\n\n")
    anthropic = stream_end("anthropic", "m", "c", 504)
    assert anthropic.startswith(b"event: error\ndata: ")
    assert orjson.loads(anthropic.split(b"data: ")[1])["error"]["type"] == "timeout_error"


def test_a_model_object_serves_both_sdks() -> None:
    model = model_object("claude-sonnet")
    assert {"id", "object", "created", "owned_by"} <= set(model)  # OpenAI's Model
    assert {"id", "type", "display_name", "created_at"} <= set(model)  # Anthropic's ModelInfo
    listed = model_list(("claude-sonnet", "groq-llama"))
    assert (listed["first_id"], listed["last_id"], listed["has_more"]) == (
        "claude-sonnet", "groq-llama", False)  # fmt: skip
