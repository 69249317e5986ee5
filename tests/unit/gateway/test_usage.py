"""The tokens of an answer: from the usage it reports, or for a stream cut off before its
usage, from what was sent (gateway/usage.py)."""

from __future__ import annotations

from gateway.usage import cut_off_counts, estimated_prompt_tokens, token_counts


def test_openai_and_anthropic_usage_count_alike() -> None:
    assert token_counts({"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}) == {
        "prompt": 3, "completion": 5}  # fmt: skip
    anthropic = {"input_tokens": 3, "cache_read_input_tokens": 10,
                 "cache_creation_input_tokens": 2, "output_tokens": 5}  # fmt: skip
    assert token_counts(anthropic) == {"prompt": 15, "completion": 5}
    assert token_counts(None) == {}
    assert token_counts({"prompt_tokens": -1, "completion_tokens": True}) == {}


def test_a_prompt_is_estimated_at_four_characters_a_token() -> None:
    body = {"messages": [{"role": "user", "content": "x" * 10},
                         {"role": "assistant", "content": [{"type": "text", "text": "y" * 6}]}],
            "system": "z" * 4, "max_tokens": 100}  # fmt: skip
    assert estimated_prompt_tokens(body) == 5  # 20 characters


def test_a_cut_off_stream_counts_what_was_sent() -> None:
    body = {"messages": [{"role": "user", "content": "x" * 40}]}
    # Nothing reported: the prompt estimated, a token per content event received.
    assert cut_off_counts(None, 6, body) == {"prompt": 10, "completion": 6}
    # Anthropic's message_start told the input; its early output count is lower.
    assert cut_off_counts({"input_tokens": 25, "output_tokens": 1}, 6, body) == {
        "prompt": 25, "completion": 6}  # fmt: skip
    # A stream that reports 0 input tokens up front (translated by LiteLLM) is estimated.
    assert cut_off_counts({"input_tokens": 0, "output_tokens": 0}, 0, body) == {
        "prompt": 10, "completion": 0}  # fmt: skip
