#!/usr/bin/env bash
# Installs what this repository needs on a fresh Debian/Ubuntu machine: the system
# packages the tests start for real, and the pinned task runners (invoke, nox, uv).
# Everything else (each check's environment, LiteLLM's own venv) is built from the
# hashed locks in locks/ by nox and devstack the first time it is needed.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v strace >/dev/null || need_apt+=(strace)
# nginx is the floor `invoke bench` measures every proxy against.
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)
if ((${#need_apt[@]})); then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi
# Redis is started by the tests themselves on a free port; the packaged service is not needed.
if command -v systemctl >/dev/null && systemctl is-active --quiet redis-server 2>/dev/null; then
  echo "note: a system redis-server is running; the tests start their own on a free port."
fi

python3 -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
  -r locks/tools.txt
