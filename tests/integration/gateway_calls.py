"""Calling the gateway under test the way a backend would."""

from __future__ import annotations

from typing import Any

import httpx

from devstack.stack import GatewayClient, LocalStack


def auth(client: GatewayClient, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.key}", **extra}


def chat_body(model: str, content: str, **params: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **params}


def post_chat(
    stack: LocalStack,
    client: GatewayClient | None,
    body: Any,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> httpx.Response:
    all_headers = auth(client) if client is not None else {}
    all_headers.update(headers or {})
    return httpx.post(
        f"{stack.gateway_url}/v1/chat/completions", json=body, headers=all_headers,
        timeout=timeout,
    )  # fmt: skip


def emulator_stats(stack: LocalStack) -> dict[str, int]:
    stats: dict[str, int] = httpx.get(f"{stack.emulator_url}/_emulator/stats").json()
    return stats


def metric_value(stack: LocalStack, name: str, **labels: str) -> float:
    """One sample from the gateway's /metrics (0.0 when absent)."""
    text = httpx.get(f"{stack.gateway_url}/metrics").text
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        sample, _, value = line.rpartition(" ")
        if sample == (f"{name}{{{wanted}}}" if labels else name):
            return float(value)
    return 0.0
