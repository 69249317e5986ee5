"""The hops under test beside the local stack: nginx (the floor any proxy can reach here)
and a gateway pointed straight at the emulator (the gateway's own overhead)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from devstack.processes import LOOPBACK, ManagedProcess, StackError, free_port
from devstack.stack import LocalStack

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


def direct_gateway_process(stack: LocalStack) -> tuple[ManagedProcess, int]:
    """A second gateway whose upstream is the emulator's OpenAI API instead of LiteLLM.

    The emulator checks the bearer key as Groq would, so this gateway presents the
    emulator's Groq key where it would present LiteLLM's master key.
    """
    port = free_port()
    base = stack.gateway_process()
    process = dataclasses.replace(
        base, name="gateway-direct",
        env={**base.env, "GATEWAY_PORT": str(port), "GATEWAY_LITELLM_URL": stack.emulator_url,
             "GATEWAY_LITELLM_MASTER_KEY": stack.secrets.groq_api_key},
        log_path=stack.run_dir / "gateway-direct.log",
        ready_url=f"http://{LOOPBACK}:{port}/readyz",
    )  # fmt: skip
    return process, port


def rss_mb(process: ManagedProcess) -> float | None:
    """Resident memory of the process (not its children), from /proc."""
    if process.pid is None:
        return None
    try:
        for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None
