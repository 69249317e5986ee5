"""Fields a model's provider never gets are named, not silently lost: LiteLLM's own table for
the locked version (gateway/unsent_fields.json), checked against LiteLLM itself, against what
reaches the provider (the emulator's request log), and refused for a client that asks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway.clients import client_for_key, clients_file
from gateway.unsent_fields import TABLE_PATH
from gateway.unsent_fields_table import litellm_answer, render

from devstack.stack import LITELLM_CONFIG, GatewayClient, LocalStack
from devstack.venvs import ensure_litellm_venv
from tests.integration.conftest import CLIENTS
from tests.integration.gateway_calls import chat_body, post_chat
from tests.integration.test_gateway_api import access_log_line

pytestmark = pytest.mark.integration

FULL = CLIENTS["full"]
STRICT = GatewayClient("test-strict")
MESSAGES_HEADERS = {"anthropic-version": "2023-06-01"}


def test_the_table_is_what_the_locked_litellm_answers() -> None:
    """`python -m gateway.unsent_fields_table --check`: the committed data equals LiteLLM's."""
    answer = litellm_answer(ensure_litellm_venv().with_name("python"), LITELLM_CONFIG)
    assert answer["litellm"] == "1.110.2"
    assert TABLE_PATH.read_text() == render(answer)


def last_provider_request(stack: LocalStack) -> dict[str, Any]:
    requests: list[dict[str, Any]] = httpx.get(f"{stack.emulator_url}/_emulator/requests").json()
    return requests[-1]


@pytest.mark.parametrize(
    ("model", "unsent", "sent"),
    [
        # The list: LiteLLM answered 200 and sent none of these, with no word.
        ("claude-sonnet", {"n": 1, "seed": 7, "logprobs": True, "presence_penalty": 0.1,
                           "frequency_penalty": 0.1, "logit_bias": {}, "store": False},
         {"temperature": 0.2}),
        ("groq-llama", {"user": "end-user-1", "reasoning_effort": "low"},
         {"temperature": 0.2, "seed": 7}),
    ],
)  # fmt: skip
def test_litellms_silent_drops_are_named(
    stack: LocalStack, model: str, unsent: dict[str, Any], sent: dict[str, Any]
) -> None:
    response = post_chat(stack, FULL, chat_body(model, "Which fields arrive?", **unsent, **sent))
    assert response.status_code == 200, response.text
    assert response.headers["x-gateway-dropped-fields"].split(",") == sorted(unsent)
    record = access_log_line(stack, response.headers["x-request-id"])
    assert record["dropped_fields"] == sorted(unsent)
    if model == "groq-llama":
        # Groq's request is OpenAI's shape: the provider got what was named sent, and none
        # of what was named dropped.
        received = set(last_provider_request(stack)["body_keys"])
        assert set(sent) <= received
        assert not set(unsent) & received


# Through LiteLLM's translation to chat completions, `metadata.user_id` becomes `user` and
# `thinking` becomes `reasoning_effort`: Groq takes neither; `top_k` passes on as it is.
MESSAGES_FIELDS = {"metadata": {"user_id": "end-user-1"}, "top_k": 5,
                   "thinking": {"type": "enabled", "budget_tokens": 1024}}  # fmt: skip


@pytest.mark.parametrize(
    ("model", "named", "received"),
    [
        ("claude-sonnet", None, {"metadata", "thinking", "top_k"}),
        ("groq-llama", "metadata,thinking", {"top_k"}),
    ],
)
def test_messages_name_what_litellm_drops_and_only_that(
    stack: LocalStack, model: str, named: str | None, received: set[str]
) -> None:
    body = {"model": model, "max_tokens": 2048, **MESSAGES_FIELDS,
            "messages": [{"role": "user", "content": "Which fields arrive?"}]}  # fmt: skip
    response = httpx.post(f"{stack.gateway_url}/v1/messages", json=body, timeout=30,
                          headers={"x-api-key": FULL.key, **MESSAGES_HEADERS})  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.headers.get("x-gateway-dropped-fields") == named
    provider_got = set(last_provider_request(stack)["body_keys"])
    assert received <= provider_got
    assert not {"user", "reasoning_effort"} & provider_got


@pytest.fixture(scope="module")
def strict_gateway(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A gateway whose clients file has a client that refuses unsent fields."""
    path: Path = tmp_path_factory.mktemp("strict") / "clients.json"
    strict = client_for_key(STRICT.name, STRICT.key, STRICT.models, reject_unsent_fields=True)
    path.write_text(clients_file([FULL.file_entry(), strict]))
    process, port = stack.spare_gateway_process("gateway-strict", GATEWAY_CLIENTS_FILE=str(path))
    process.start(ready_timeout=20)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()


def test_a_client_may_ask_for_a_400_instead(stack: LocalStack, strict_gateway: str) -> None:
    before = httpx.get(f"{stack.emulator_url}/_emulator/stats").json()["requests"]
    for body, field in (
        (chat_body("claude-sonnet", "hi", seed=7), "seed"),
        (chat_body("groq-llama", "hi", user="u", fallbacks=["x"]), "fallbacks"),
    ):
        response = httpx.post(f"{strict_gateway}/v1/chat/completions", json=body, timeout=30,
                              headers={"Authorization": f"Bearer {STRICT.key}"})  # fmt: skip
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert (error["code"], error["param"]) == ("unsent_field", field)
        assert f"`{field}` would not reach the provider" in error["message"]
    assert httpx.get(f"{stack.emulator_url}/_emulator/stats").json()["requests"] == before
    # Without such fields it is served; and other clients keep the named drops.
    plain = chat_body("claude-sonnet", "hi", temperature=0.1)
    ok = httpx.post(f"{strict_gateway}/v1/chat/completions", json=plain, timeout=30,
                    headers={"Authorization": f"Bearer {STRICT.key}"})  # fmt: skip
    assert ok.status_code == 200, ok.text
    lenient = httpx.post(f"{strict_gateway}/v1/chat/completions", timeout=30,
                         json=chat_body("claude-sonnet", "hi", seed=7),
                         headers={"Authorization": f"Bearer {FULL.key}"})  # fmt: skip
    assert lenient.headers["x-gateway-dropped-fields"] == "seed"
