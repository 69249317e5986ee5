"""The hops under test beside the local stack: nginx (the floor any proxy can reach here),
a bare Python pass-through (the floor for the gateway's runtime, bench/passthrough.py) and
a gateway pointed straight at the emulator (the gateway's own overhead)."""

from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path

from devstack.processes import LOOPBACK, ManagedProcess, StackError, free_port
from devstack.stack import GATEWAY_SOURCE, LITELLM_SERVER_ARGS, LocalStack
from platform_deploy.config.files import REPO_ROOT

# The proxies compared with the direct call at a fixed rate, and the direct call itself.
HOPS = ("nginx", "python", "gateway")
TARGETS = ("direct", *HOPS)

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
        env={"PYTHONPATH": f"{REPO_ROOT}:{GATEWAY_SOURCE}",
             "PASSTHROUGH_UPSTREAM": stack.emulator_url,
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
    stack: LocalStack, litellm_bin: Path, name: str, extra_args: list[str]
) -> tuple[ManagedProcess, int]:
    """Another LiteLLM on the same config, run another way (workers, server)."""
    port = free_port()
    base = stack.litellm_process(litellm_bin)
    # The stack's own server flags are replaced, not added to: each variant names its own.
    argv = [str(port) if arg == str(stack.ports.litellm) else arg for arg in base.argv
            if arg not in LITELLM_SERVER_ARGS]  # fmt: skip
    process = dataclasses.replace(
        base, name=f"litellm-{name}", argv=[*argv, *extra_args],
        log_path=stack.run_dir / f"litellm-{name}.log",
        ready_url=f"http://{LOOPBACK}:{port}/health/readiness",
    )  # fmt: skip
    return process, port
