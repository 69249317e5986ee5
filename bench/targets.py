"""The hops under test beside the local stack: nginx (the floor any proxy can reach here),
a bare Python pass-through (the floor for the gateway's runtime, bench/passthrough.py) and
a gateway pointed straight at the emulator (the gateway's own overhead)."""

from __future__ import annotations

import dataclasses
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
from gateway.clients import Client
from gateway.forwarding import litellm_metadata, parse_chat_request, upstream_body

from bench.loadgen import Request
from devstack.processes import LOOPBACK, ManagedProcess, StackError, free_port
from devstack.stack import (
    LITELLM_CONFIG,
    LITELLM_SERVER_ARGS,
    GatewayClient,
    LocalStack,
)

BENCH_CLIENT = GatewayClient("bench", requests_per_minute=1_000_000_000)
PROMPT = "Say hello to the benchmark."
BENCH_DIRECT_REQUEST_ID = "bench-direct-request"


def chat_request(
    url: str,
    key: str,
    model: str,
    stream: bool = False,
    session: str | None = None,
) -> Request:
    """A chat completion to `url`; `session` as the gateway's X-Session-Id header."""
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": PROMPT}]}
    if stream:
        body["stream"] = True
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    if session is not None:
        headers["X-Session-Id"] = session
    return Request(url=f"{url}/v1/chat/completions", body=orjson.dumps(body), stream=stream,
                   headers=headers)  # fmt: skip


def gateway_metadata(model: str, session: str | None = None) -> dict[str, Any]:
    """The `metadata` the gateway adds for the bench's client (gateway.forwarding), so that
    LiteLLM called directly does the same callback work as behind the gateway: the
    chain's latency over LiteLLM's is then the gateway's alone."""
    client = Client.model_validate(BENCH_CLIENT.file_entry())
    return litellm_metadata(client, BENCH_DIRECT_REQUEST_ID, None, session, model=model)


def litellm_request(
    url: str, master_key: str, model: str = "groq-llama", stream: bool = False,
    session: str | None = None, **extra: Any,
) -> Request:  # fmt: skip
    """A call straight to a LiteLLM proxy with the body the gateway sends for the same
    caller request (gateway.forwarding: its metadata, a stream's `include_usage`) and its
    X-Request-Id header (gateway.upstream); `extra` goes into the caller's body first (e.g.
    a parameter the provider does not take, for drop_params), so it is examined as the
    gateway examines it."""
    caller = chat_request(url, master_key, model, stream)
    parsed = parse_chat_request(orjson.loads(caller.body) | extra)
    body = upstream_body(parsed, gateway_metadata(model, session))
    headers = {**caller.headers, "X-Request-Id": BENCH_DIRECT_REQUEST_ID}
    return dataclasses.replace(caller, body=orjson.dumps(body), headers=headers)


NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {run}/nginx.pid;
error_log {run}/nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  client_body_temp_path {run}/nginx-tmp;
  proxy_temp_path {run}/nginx-tmp;
  fastcgi_temp_path {run}/nginx-tmp;
  uwsgi_temp_path {run}/nginx-tmp;
  scgi_temp_path {run}/nginx-tmp;
  upstream emulator {{ server {host}:{upstream}; keepalive 256; }}
  server {{
    listen {host}:{port};
    location / {{
      proxy_pass http://emulator;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }}
  }}
}}
"""


def nginx_process(run_dir: Path, upstream_port: int) -> tuple[ManagedProcess, int]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise StackError("nginx is not installed (Debian: apt-get install nginx-light)")
    port = free_port()
    (run_dir / "nginx-tmp").mkdir(parents=True, exist_ok=True)
    conf = run_dir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(run=run_dir, host=LOOPBACK, upstream=upstream_port,
                                      port=port))  # fmt: skip
    process = ManagedProcess(
        name="nginx", argv=[nginx, "-c", str(conf), "-p", str(run_dir)], env={},
        log_path=run_dir / "nginx.log", ready_port=port,
    )  # fmt: skip
    return process, port


def passthrough_process(stack: LocalStack) -> tuple[ManagedProcess, int]:
    """bench/passthrough.py in front of the emulator, presenting the emulator's Groq key."""
    port = free_port()
    process = ManagedProcess(
        name="python-passthrough",
        argv=[sys.executable, "-m", "bench.passthrough", "--host", LOOPBACK, "--port", str(port)],
        env={"PASSTHROUGH_UPSTREAM": stack.emulator_url,
             "PASSTHROUGH_UPSTREAM_KEY": stack.secrets.groq_api_key},
        log_path=stack.run_dir / "python-passthrough.log",
        ready_url=f"http://{LOOPBACK}:{port}/healthz",
    )  # fmt: skip
    return process, port


def direct_gateway_process(stack: LocalStack) -> tuple[ManagedProcess, int]:
    """A second gateway whose upstream is the emulator's OpenAI API instead of LiteLLM.

    The emulator checks the bearer key as Groq would, so this gateway presents the
    emulator's Groq key where it would present LiteLLM's master key.
    """
    return stack.spare_gateway_process(
        "gateway-direct",
        GATEWAY_LITELLM_URL=stack.emulator_url,
        GATEWAY_LITELLM_MASTER_KEY=stack.secrets.groq_api_key,
    )


def litellm_variant(
    stack: LocalStack,
    litellm_bin: Path,
    name: str,
    extra_args: Sequence[str] = (),
    config: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> tuple[ManagedProcess, int]:
    """Another LiteLLM beside the stack's: run another way (workers, server), or with
    another config file or environment."""
    port = free_port()
    base = stack.litellm_process(litellm_bin)
    # The stack's own server flags are replaced, not added to: each variant names its own.
    argv = [str(port) if arg == str(stack.ports.litellm) else arg for arg in base.argv
            if arg not in LITELLM_SERVER_ARGS]  # fmt: skip
    if config is not None:
        argv = [str(config) if arg == str(LITELLM_CONFIG) else arg for arg in argv]
    process = dataclasses.replace(
        base, name=f"litellm-{name}", argv=[*argv, *extra_args],
        env={**base.env, **(extra_env or {})},
        log_path=stack.run_dir / f"litellm-{name}.log",
        ready_url=f"http://{LOOPBACK}:{port}/health/readiness",
    )  # fmt: skip
    return process, port
