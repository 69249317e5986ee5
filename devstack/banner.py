"""What `invoke dev` prints once the stack is up: each process with its address and PID,
the gateway's clients, and calls that work as printed (tests run them from this text)."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

from gateway.clients import Client

from devstack.langfuse_receiver.client import DEFAULT_SPANS_LIMIT
from devstack.processes import LOOPBACK
from devstack.stack import DEV_CLIENT_KEY, LocalStack

HEADLINE = "Local stack is up"
DEMO_SESSION = "demo-1"
HELLO = json.dumps({"model": "claude-sonnet", "messages": [{"role": "user", "content": "Hello"}]})
SPANS_DOC = "devstack/README.md"


def _row(what: str, where: str, pid: int | None, note: str = "") -> str:
    shown_pid = f"pid {pid}" if pid is not None else ""
    return f"  {what:<18} {where:<32} {shown_pid:<10} {note}".rstrip()


def _limits(client: Client) -> str:
    limits = [
        f"{client.requests_per_minute} requests/min" if client.requests_per_minute else "",
        f"{client.tokens_per_minute} tokens/min" if client.tokens_per_minute else "",
    ]
    return ", ".join(filter(None, limits)) or "no limits"


def processes(stack: LocalStack) -> list[str]:
    pids = stack.pids()
    providers = stack.providers()
    langfuse = stack.langfuse_target
    dependencies = ", ".join(f"{k} {v}" for k, v in stack.gateway_dependencies.items())
    emulated = "(provider emulator: a stand-in)" if providers.emulated else "(real)"
    return [
        f"{HEADLINE} (Ctrl-C stops it, as SIGINT or SIGTERM to pid {os.getpid()} do):",
        _row(
            "Shared AI Gateway", stack.gateway_url, pids.get("gateway"), f"/readyz: {dependencies}"
        ),
        _row("LiteLLM proxy", stack.litellm_url, pids.get("litellm")),
        _row(
            "Redis", f"{LOOPBACK}:{stack.ports.redis}", pids.get("redis"), f"({stack.redis_origin})"
        ),
        _row(
            "Anthropic API", providers.anthropic_api_base, pids.get("provider-emulator"), emulated
        ),
        _row("Groq API", providers.groq_api_base, pids.get("provider-emulator"), emulated),
        _row(
            "Langfuse",
            langfuse.host,
            pids.get("langfuse-receiver"),
            "(local OTLP receiver: a stand-in)" if langfuse.local else "",
        ),
        f"  {'Logs':<18} {stack.run_dir}/*.log",
    ]


def clients_table(stack: LocalStack) -> list[str]:
    """The gateway's clients: this run's (the development client), then the local file's."""
    rows = [
        (client.file_entry(), f"key {client.key}" if client.key == DEV_CLIENT_KEY else "")
        for client in stack.gateway_clients
    ]
    rows += [(entry, "key: the file minted with it") for entry in stack.local_clients]
    lines = ["Gateway clients:"]
    for entry, key in rows:
        models = ", ".join(entry.models)
        lines.append(f"  {entry.name:<16} {key:<30} {models:<26} {_limits(entry)}".rstrip())
    return lines


def clients(stack: LocalStack, mint_hint: str) -> list[str]:
    lines = ["", *clients_table(stack)]
    if stack.local_clients_file is not None:
        lines += [
            f"Add one, kept in {stack.local_clients_file} (the gateway restarts when it changes):",
            f"  {mint_hint}",
        ]
    return lines


def calls(stack: LocalStack, key_file: Path) -> list[str]:
    lines = [
        "",
        'Call the gateway (add "stream": true to stream; model groq-llama for Groq):',
        f"  curl -s {stack.gateway_url}/v1/chat/completions \\",
        f"    -H 'Authorization: Bearer {DEV_CLIENT_KEY}' -H 'X-Session-Id: {DEMO_SESSION}' \\",
        "    -H 'Content-Type: application/json' \\",
        f"    -d {shlex.quote(HELLO)}",
        "",
        "The Langfuse docs' check, LiteLLM called directly with its master key (generated for",
        "this run, read from its 0600 file, never printed):",
        f"  curl -s {stack.litellm_url}/v1/chat/completions \\",
        f'    -H "Authorization: Bearer $(cat {shlex.quote(str(key_file))})" \\',
        "    -H 'Content-Type: application/json' \\",
        f"    -d {shlex.quote(HELLO)}",
    ]
    langfuse = stack.langfuse_target
    if langfuse.local:
        lines += [
            "",
            f"What LiteLLM sent to Langfuse: the latest {DEFAULT_SPANS_LIMIT} spans, or filtered",
            f"by session_id, trace_id, name, attribute and value; limit=N (0: all): {SPANS_DOC}",
            f"  curl -s '{stack.receiver_url}/_receiver/spans?session_id={DEMO_SESSION}'",
        ]
    else:
        lines += ["", f"Traces: in Langfuse at {langfuse.host} (session {DEMO_SESSION})."]
    return lines


def banner(stack: LocalStack, key_file: Path, mint_hint: str) -> str:
    return "\n".join([*processes(stack), *clients(stack, mint_hint), *calls(stack, key_file)])
