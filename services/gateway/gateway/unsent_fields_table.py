"""`python -m gateway.unsent_fields_table [--check]`: write (or compare) unsent_fields.json,
the request fields each model's provider never gets, as the locked LiteLLM decides them.

LiteLLM runs with `drop_params: true` (services/litellm/config.yaml): a field the provider does
not take is removed without a word. Which ones, per provider, is LiteLLM's own table, so this
asks the LiteLLM of `locks/litellm.txt` (its venv, `.venvs/litellm`) for it, once per model of
config.yaml, and the gateway names those fields in `x-gateway-dropped-fields`
(gateway/unsent_fields.py). A test runs `--check`, so the data cannot drift from LiteLLM.

- Chat completions: the OpenAI fields the gateway passes (gateway.forwarding) minus
  `litellm.get_supported_openai_params(model, provider)`. `messages`, `model`, `stream` and
  `stream_options` are LiteLLM's own (it streams and reports usage for every provider).
- Messages: for Anthropic, whether LiteLLM's own request transformation
  (`AnthropicMessagesConfig.transform_anthropic_messages_request`, with drop_params) keeps
  the field: it passes the body on as it is (its `get_supported_anthropic_messages_params`
  lists no `metadata`, yet `metadata` is sent). For other providers LiteLLM translates the
  request to a chat completion (`LiteLLMAnthropicMessagesAdapter.translate_anthropic_to_openai`):
  a field counts as sent when what LiteLLM makes of it (e.g. `stop_sequences` -> `stop`,
  `system` -> a message) is a field the provider takes, or no OpenAI parameter at all (those
  LiteLLM passes on as they are: `top_k` reaches Groq).
The integration tests check both against the provider emulator's log of what it received.
Value-level drops (e.g. `response_format` of type `json_object` for Anthropic) are not in
LiteLLM's table and not here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from gateway.anthropic_request import ANTHROPIC_MESSAGES_FIELDS
from gateway.forwarding import OPENAI_CHAT_FIELDS
from gateway.unsent_fields import TABLE_PATH

# What LiteLLM itself consumes, whatever the provider.
LITELLM_OWN_CHAT_FIELDS = ("messages", "model", "stream", "stream_options")
LITELLM_OWN_MESSAGES_FIELDS = ("messages", "model", "max_tokens", "stream")

# One valid value of each Anthropic field, for LiteLLM's translation to say what it becomes.
MESSAGES_SAMPLES: dict[str, Any] = {
    "system": "Be brief.",
    "stop_sequences": ["STOP"],
    "temperature": 0.5,
    "top_p": 0.9,
    "top_k": 5,
    "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object"}}],
    "tool_choice": {"type": "auto"},
    "metadata": {"user_id": "user-1"},
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "service_tier": "auto",
    "output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}},
}

# Runs inside LiteLLM's venv: reads the model list, prints LiteLLM's answer as JSON.
_ASK_LITELLM = r"""
import json, sys
from importlib.metadata import version

import litellm
import yaml
from litellm.llms.anthropic.messages.adapters.transformation import (
    LiteLLMAnthropicMessagesAdapter,
)
from litellm.llms.anthropic.messages.native.transformation import AnthropicMessagesConfig
from litellm.types.router import GenericLiteLLMParams

question = json.load(sys.stdin)
config = yaml.safe_load(open(question["config"]))
samples = question["messages_samples"]
base = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
openai_params = set(litellm.OPENAI_CHAT_COMPLETION_PARAMS)
answer = {"litellm": version("litellm"), "models": {}}
for entry in config["model_list"]:
    provider, _, model = entry["litellm_params"]["model"].partition("/")
    supported = set(litellm.get_supported_openai_params(
        model=model, custom_llm_provider=provider) or ())
    chat = sorted(set(question["chat_fields"]) - supported - set(question["chat_own"]))
    messages = []
    for field in sorted(set(question["messages_fields"]) - set(question["messages_own"])):
        if provider == "anthropic":
            sent = AnthropicMessagesConfig().transform_anthropic_messages_request(
                model, base["messages"], {"max_tokens": 5, field: samples[field]},
                GenericLiteLLMParams(drop_params=True), {})
            reaches = field in sent
        else:
            adapter = LiteLLMAnthropicMessagesAdapter()
            plain, _ = adapter.translate_anthropic_to_openai(
                dict(base, model=model), custom_llm_provider=provider)
            out, _ = adapter.translate_anthropic_to_openai(
                dict(base, model=model, **{field: samples[field]}), custom_llm_provider=provider)
            made = {k for k in out if k not in plain or out[k] != plain[k]} - {"messages"}
            # drop_params removes the OpenAI params the provider does not take; LiteLLM
            # passes anything else on as it is.
            reaches = out["messages"] != plain["messages"] or any(
                k in supported or k not in openai_params for k in made)
        if not reaches:
            messages.append(field)
    answer["models"][entry["model_name"]] = {
        "provider": provider, "provider_model": model,
        "chat.completions": chat, "messages": messages,
    }
json.dump(answer, sys.stdout, indent=2, sort_keys=True)
"""


def litellm_answer(litellm_python: Path, config: Path) -> dict[str, Any]:
    """LiteLLM's table for every model of `config`, from the LiteLLM installed beside it."""
    question = {
        "config": str(config),
        "chat_fields": sorted(OPENAI_CHAT_FIELDS),
        "chat_own": LITELLM_OWN_CHAT_FIELDS,
        "messages_fields": sorted(ANTHROPIC_MESSAGES_FIELDS),
        "messages_own": LITELLM_OWN_MESSAGES_FIELDS,
        "messages_samples": MESSAGES_SAMPLES,
    }
    # Offline, as it runs everywhere: no remote cost map, no tokenizer download.
    env = {
        **{name: os.environ[name] for name in ("PATH", "HOME", "TMPDIR") if name in os.environ},
        "LITELLM_OFFLINE_MODE": "true", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "HF_HUB_OFFLINE": "1",
    }  # fmt: skip
    result = subprocess.run(  # noqa: S603 -- our own LiteLLM venv, our own script
        [str(litellm_python), "-c", _ASK_LITELLM],
        input=json.dumps(question), capture_output=True, text=True, env=env, check=False,
        timeout=300,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"LiteLLM could not be asked: {result.stderr.strip()[-2000:]}")
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def render(answer: dict[str, Any]) -> str:
    return json.dumps(answer, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    # Development-only imports: this module never runs in the gateway's image.
    from devstack.stack import LITELLM_CONFIG
    from devstack.venvs import ensure_litellm_venv

    parser = argparse.ArgumentParser(prog="python -m gateway.unsent_fields_table")
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 if stale")
    args = parser.parse_args(argv)
    python = ensure_litellm_venv().with_name("python")
    text = render(litellm_answer(python, LITELLM_CONFIG))
    if args.check:
        if TABLE_PATH.read_text() != text:
            print(f"{TABLE_PATH} is stale: run python -m gateway.unsent_fields_table",
                  file=sys.stderr)  # fmt: skip
            return 1
        print(f"{TABLE_PATH} matches LiteLLM's answer")
        return 0
    TABLE_PATH.write_text(text)
    print(f"wrote {TABLE_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
