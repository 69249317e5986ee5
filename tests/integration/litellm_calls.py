"""Chat completions against the local LiteLLM proxy, timed from the caller's side."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from devstack.stack import LocalStack

# The provider models behind the aliases, as services/litellm/config.yaml maps them.
PROVIDER_MODEL = {
    "claude-sonnet": "claude-sonnet-4-20250514",
    "groq-llama": "llama-3.3-70b-versatile",
}
# $ per token, as services/litellm/config.yaml prices them.
PRICE = {
    "claude-sonnet": (0.000003, 0.000015),
    "groq-llama": (0.00000059, 0.00000079),
}


def new_session_id() -> str:
    return f"test-session-{uuid.uuid4()}"


@dataclass
class Completion:
    status: int
    body: dict[str, Any]
    text: str
    started_ns: int
    finished_ns: int
    first_chunk_ns: int | None = None
    chunks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def usage(self) -> dict[str, Any]:
        if self.chunks:
            for chunk in reversed(self.chunks):
                if chunk.get("usage"):
                    return dict(chunk["usage"])
            return {}
        return dict(self.body.get("usage") or {})


def chat(
    stack: LocalStack,
    model: str,
    content: str,
    *,
    stream: bool = False,
    metadata: dict[str, Any] | None = None,
    timeout: float = 60.0,
    **params: Any,
) -> Completion:
    """POST /v1/chat/completions with the master key; stream chunks are parsed as they come."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": content}],
        "stream": stream,
        **params,
    }
    if metadata is not None:
        body["metadata"] = metadata
    if stream:
        body["stream_options"] = {"include_usage": True}
    headers = {"Authorization": f"Bearer {stack.secrets.litellm_master_key}"}
    url = f"{stack.litellm_url}/v1/chat/completions"
    started = time.time_ns()
    with httpx.Client(timeout=timeout) as client:
        if not stream:
            response = client.post(url, json=body, headers=headers)
            payload = response.json()
            text = ""
            if response.status_code == 200:
                text = payload["choices"][0]["message"]["content"] or ""
            return Completion(response.status_code, payload, text, started, time.time_ns())
        chunks: list[dict[str, Any]] = []
        first: int | None = None
        with client.stream("POST", url, json=body, headers=headers) as response:
            if response.status_code != 200:
                response.read()
                return Completion(
                    response.status_code, response.json(), "", started, time.time_ns()
                )
            for line in response.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                first = first or time.time_ns()
                chunks.append(json.loads(line.removeprefix("data: ")))
        text = "".join(
            (choice.get("delta") or {}).get("content") or ""
            for chunk in chunks
            for choice in chunk.get("choices", [])
        )
        return Completion(200, {}, text, started, time.time_ns(), first, chunks)
