"""The fields a model's provider never gets, from the generated table (unsent_fields.json;
that it equals LiteLLM's answer: tests/integration/test_gateway_unsent_fields.py)."""

from __future__ import annotations

from gateway.unsent_fields import UnsentFields

TABLE = UnsentFields.load()


def test_the_table_names_litellms_silent_drops_per_provider() -> None:
    fields = ("seed", "n", "temperature", "user", "logprobs")
    assert TABLE.of("claude-sonnet", "chat.completions", fields) == ("logprobs", "n", "seed")
    assert TABLE.of("groq-llama", "chat.completions", fields) == ("user",)
    # LiteLLM passes a Messages body to Anthropic as it is; through its translation to Groq's
    # chat completions, `metadata.user_id` becomes `user` and `thinking` `reasoning_effort`,
    # which Groq does not take; `top_k` it passes on as it is.
    messages = ("metadata", "thinking", "top_k")
    assert TABLE.of("claude-sonnet", "messages", messages) == ()
    assert TABLE.of("groq-llama", "messages", messages) == ("metadata", "thinking")


def test_an_unknown_model_or_api_names_nothing() -> None:
    assert TABLE.of("no-such-model", "chat.completions", ("seed",)) == ()
    assert TABLE.of("claude-sonnet", "messages.count_tokens", ("metadata",)) == ()
