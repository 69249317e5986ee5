#!/usr/bin/env bash
# Installs what this repository needs on a fresh Debian/Ubuntu machine: the system
# packages the tests start for real, and the pinned task runners (invoke, nox, uv).
# Everything else (each check's environment, LiteLLM's own venv) is built from the
# hashed locks in locks/ by nox and devstack the first time it is needed.
#
#   scripts/bootstrap.sh                       the packages and task runners
#   scripts/bootstrap.sh --docker-engine DIR   also a Docker engine where none answers
#
# --docker-engine is for machines without one (CI here): on Debian, as root, it installs
# Debian's docker.io and debootstrap, starts dockerd with its socket, data, exec root, log
# and PID file under DIR, and waits until it answers. A laptop or a GitHub runner with
# Docker already running never needs it: then it only says so. Point the docker CLI at the
# engine with DOCKER_HOST=unix://DIR/docker.sock; stop it with `kill "$(cat DIR/docker.pid)"`.
set -euo pipefail
cd "$(dirname "$0")/.."

engine_dir=""
while (($#)); do
  case "$1" in
    --docker-engine)
      [ $# -ge 2 ] || { echo "bootstrap: --docker-engine needs a folder" >&2; exit 2; }
      engine_dir="$2"
      shift 2
      ;;
    -h | --help)
      sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "bootstrap: unknown argument: $1 (see --help)" >&2
      exit 2
      ;;
  esac
done

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    "${sudo_cmd[@]}" apt-get update -qq
    apt_updated=yes
  fi
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "$@"
}

need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v strace >/dev/null || need_apt+=(strace)
# nginx is the floor `invoke bench` measures every proxy against.
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)
if ((${#need_apt[@]})); then
  apt_install "${need_apt[@]}"
fi
# Redis is started by the tests themselves on a free port; the packaged service is not needed.
if command -v systemctl >/dev/null && systemctl is-active --quiet redis-server 2>/dev/null; then
  echo "note: a system redis-server is running; the tests start their own on a free port."
fi

python3 -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
  -r locks/tools.txt

# --- A Docker engine for the container tier (invoke e2e), only where none answers.
[ -n "$engine_dir" ] || exit 0
if docker info >/dev/null 2>&1; then
  echo "docker engine: one already answers (docker info); none started."
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || [ ! -f /etc/debian_version ]; then
  echo "bootstrap: --docker-engine starts dockerd by hand, which needs root on Debian;" \
    "install and start Docker as your system does instead (https://docs.docker.com/engine/install/)." >&2
  exit 2
fi
need_engine=()
command -v dockerd >/dev/null || need_engine+=(docker.io)
# debootstrap builds the stand-in base images where no registry can be reached (tests/e2e).
command -v debootstrap >/dev/null || need_engine+=(debootstrap)
if ((${#need_engine[@]})); then
  apt_install "${need_engine[@]}"
fi
mkdir -p "$engine_dir"
engine_dir="$(cd "$engine_dir" && pwd)"
socket="$engine_dir/docker.sock"
# Its own socket, data root, exec root and PID file: nothing of a system Docker is touched.
dockerd --host "unix://$socket" --data-root "$engine_dir/data" --exec-root "$engine_dir/exec" \
  --pidfile "$engine_dir/docker.pid" >"$engine_dir/dockerd.log" 2>&1 &
started=$!
for _ in $(seq 1 60); do
  if DOCKER_HOST="unix://$socket" docker info >/dev/null 2>&1; then
    version="$(DOCKER_HOST="unix://$socket" docker version --format '{{.Server.Version}}')"
    echo "docker engine: started dockerd $version (PID $started) at unix://$socket;" \
      "data, log and PID file in $engine_dir."
    exit 0
  fi
  if ! kill -0 "$started" 2>/dev/null; then
    echo "bootstrap: dockerd exited at start; its log ($engine_dir/dockerd.log) ends:" >&2
    tail -n 20 "$engine_dir/dockerd.log" >&2
    exit 1
  fi
  sleep 1
done
echo "bootstrap: dockerd (PID $started) did not answer within 60 s; its log: $engine_dir/dockerd.log" >&2
kill "$started" 2>/dev/null || true
exit 1
