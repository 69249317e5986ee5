"""k3s inside a Dagger service: its start-up scripts, server arguments, registry
configuration, the kubeconfig other containers use, and whether it is still running. Text
only; containers.py wires it.

The recipe is the one dagger/dagger's e2e/helm suite runs (shared/facts/dagger.md): a cgroup
v2 entrypoint, state on cache volumes wiped at every start, traefik and metrics-server off,
the service alias in the API certificate, and a kubeconfig pointing at that alias.

Dagger has no call that says whether a started service still runs, and binding a service
that has exited starts a new one (core/services.go in dagger/dagger). So the service's shell
writes a heartbeat to the config volume while k3s runs, and k3s's exit status when it stops;
another container reads both from the volume without binding the service (`liveness`).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from pipeline.registry_login import DOCKER_HUB, RegistryLogin

ALIAS = "k3s"  # the hostname tool containers reach the API server by
API_PORT = 6443
CONFIG_DIR = "/etc/rancher/k3s"  # a cache volume: kubeconfig and server log, read by others
DATA_DIR = "/var/lib/rancher"  # a cache volume: containerd needs a non-overlay filesystem
IMPORT_DIR = f"{DATA_DIR}/k3s/agent/images"  # k3s imports every archive here as it starts
ENTRYPOINT = "/pipeline/cgroup-entrypoint.sh"
REGISTRIES_FILE = "/pipeline/registries.yaml"
KUBECONFIG_NAME = "k3s.yaml"
SERVER_LOG_NAME = "k3s.log"
HEARTBEAT_NAME = "heartbeat"  # the time (epoch seconds) k3s was last seen running
EXITED_NAME = "exited"  # k3s's exit status, written when it stops
HEARTBEAT_EVERY_S = 5
HEARTBEAT_STALE_S = 30  # six missed beats: the container is gone, not just busy
TEMP_DIRS = ("/var/lib/kubelet", "/var/lib/cni", "/var/log")

# The kubelet enables cgroup v2 controllers for its children, which the kernel refuses while
# any process sits in the root cgroup. So every process moves into a child cgroup first: the
# technique of moby's hack/dind and k3d's cgroup v2 entrypoint.
CGROUP_ENTRYPOINT = """\
#!/bin/sh
set -eu
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  mkdir -p /sys/fs/cgroup/init
  while read -r pid; do
    echo "$pid" > /sys/fs/cgroup/init/cgroup.procs 2>/dev/null || true
  done < /sys/fs/cgroup/cgroup.procs
  enable=""
  for controller in $(cat /sys/fs/cgroup/cgroup.controllers); do
    enable="$enable +$controller"
  done
  echo "$enable" > /sys/fs/cgroup/cgroup.subtree_control
fi
exec "$@"
"""


def prepare_state_script() -> str:
    """Before each start: a fresh cluster (no state, kubeconfig, log or heartbeat from an
    earlier run). The image archives are mounted into the import folder after this step
    (containers.k3s_service), so nothing here copies them."""
    return "\n".join(
        [
            "set -eu",
            f"rm -rf {DATA_DIR}/k3s {CONFIG_DIR}/*",
            f"mkdir -p {IMPORT_DIR}",
        ]
    )


def server_command(
    alias: str = ALIAS,
    private_registry: bool = False,
    config_dir: str = CONFIG_DIR,
    heartbeat_every_s: int = HEARTBEAT_EVERY_S,
) -> list[str]:
    """`sh -c` arguments for the service: the server, logging to the shared config volume so
    diagnostics can read the log after a failure, and a shell that beats while it runs.

    The shell stays the service's main process: it passes a stop on to k3s, writes the
    heartbeat while k3s runs and k3s's exit status once it stopped, then exits with it.
    """
    args = [
        "k3s",
        "server",
        "--disable=traefik",
        "--disable=metrics-server",
        f"--tls-san={alias}",
        f"--write-kubeconfig={config_dir}/{KUBECONFIG_NAME}",
        # One node in one container: the API server reaches the kubelet directly rather
        # than through k3s's agent tunnel (as dagger's e2e suite runs it).
        "--egress-selector-mode=disabled",
        f"--log={config_dir}/{SERVER_LOG_NAME}",
        "--alsologtostderr",
    ]
    if private_registry:
        args.append(f"--private-registry={REGISTRIES_FILE}")
    # Bind the container's own address (as dagger's e2e suite does), found at start time.
    bind = "--bind-address=\"$(ip route | grep src | awk '{print $NF}' | head -n 1)\""
    heartbeat = shlex.quote(f"{config_dir}/{HEARTBEAT_NAME}")
    exited = shlex.quote(f"{config_dir}/{EXITED_NAME}")
    script = "\n".join(
        [
            f"{shlex.join(args)} {bind} &",
            "k3s_pid=$!",
            "trap 'kill -TERM \"$k3s_pid\" 2>/dev/null' TERM INT",
            'while kill -0 "$k3s_pid" 2>/dev/null; do',
            f"  date +%s > {heartbeat}.new && mv {heartbeat}.new {heartbeat}",
            f"  sleep {heartbeat_every_s}",
            "done",
            'wait "$k3s_pid"',
            "status=$?",
            f'echo "$status" > {exited}',
            'exit "$status"',
        ]
    )
    return ["sh", "-c", script]


def liveness_probe_script(config_mount: str) -> str:
    """Run where k3s's config volume is mounted (never bound to k3s): the time now, the last
    heartbeat and the exit status, one `key=value` line each, for `liveness`."""
    heartbeat = shlex.quote(f"{config_mount}/{HEARTBEAT_NAME}")
    exited = shlex.quote(f"{config_mount}/{EXITED_NAME}")
    return (
        'echo "now=$(date +%s)"; '
        f'echo "heartbeat=$(cat {heartbeat} 2>/dev/null)"; '
        f'echo "exited=$(cat {exited} 2>/dev/null)"'
    )


@dataclass(frozen=True)
class Liveness:
    alive: bool
    reason: str  # a clause: why it counts as running or not


def liveness(probe_output: str, stale_after_s: int = HEARTBEAT_STALE_S) -> Liveness:
    """Whether k3s still runs, from what `liveness_probe_script` printed."""
    said = {}
    for line in probe_output.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            said[key.strip()] = value.strip()
    if said.get("exited"):
        return Liveness(False, f"k3s exited with status {said['exited']}")
    beat, now = said.get("heartbeat", ""), said.get("now", "")
    if not beat:
        return Liveness(False, "k3s's container wrote no heartbeat")
    if not (beat.isdigit() and now.isdigit()):
        return Liveness(False, f"k3s's heartbeat is unreadable ({beat!r} at {now!r})")
    age = int(now) - int(beat)
    if age > stale_after_s:
        return Liveness(False, f"k3s's last heartbeat is {age} s old")
    return Liveness(True, f"k3s's last heartbeat is {max(age, 0)} s old")


def registries_yaml(mirrors: Mapping[str, str], docker_hub: RegistryLogin | None = None) -> str:
    """k3s's registries.yaml: registry host -> mirror endpoint (containerd falls back to the
    registry itself when the mirror fails), and Docker Hub's login for that registry itself.

    The login is keyed by `docker.io`, so k3s uses it for Docker Hub's own endpoint only
    (without the mirror, or when it falls back); the mirror logs in upstream by itself. It
    holds a credential: containers.py hands this text to Dagger only as a secret.
    """
    config: dict[str, Any] = {}
    if mirrors:
        config["mirrors"] = {host: {"endpoint": [url]} for host, url in mirrors.items()}
    if docker_hub is not None:
        config["configs"] = {
            DOCKER_HUB: {"auth": {"username": docker_hub.username, "password": docker_hub.password}}
        }
    return yaml.safe_dump(config, sort_keys=True)


def rewrite_kubeconfig(text: str, alias: str = ALIAS, port: int = API_PORT) -> str:
    """k3s's kubeconfig names https://127.0.0.1:6443; other containers reach the API at the
    service alias, which --tls-san puts in the certificate."""
    config: Any = yaml.safe_load(text)
    clusters = config.get("clusters") if isinstance(config, dict) else None
    if not isinstance(clusters, list) or not clusters:
        raise ValueError("the kubeconfig names no cluster")
    for entry in clusters:
        cluster = entry.get("cluster") if isinstance(entry, dict) else None
        if not isinstance(cluster, dict) or "server" not in cluster:
            raise ValueError("a cluster in the kubeconfig has no server")
        cluster["server"] = f"https://{alias}:{port}"
    return yaml.safe_dump(config, sort_keys=False)


def wait_for_file_script(path: str, timeout_s: int) -> str:
    """Wait until k3s has written a file (the kubeconfig comes after the port opens)."""
    quoted = shlex.quote(path)
    return (
        f"i=0; until [ -s {quoted} ]; do i=$((i+1)); "
        f'[ "$i" -le {timeout_s} ] || {{ echo "k3s wrote no {path} within {timeout_s} s" >&2; '
        "exit 1; }; sleep 1; done"
    )


def node_ready_script(timeout_s: int) -> str:
    """The API answers before the node is Ready, and `kubectl wait` fails at once while no
    node is registered: so wait in a loop."""
    return (
        f"deadline=$(( $(date +%s) + {timeout_s} )); "
        "until kubectl wait --for=condition=Ready nodes --all --timeout=10s; do "
        '[ "$(date +%s)" -lt "$deadline" ] || '
        f'{{ echo "no Ready node within {timeout_s} s" >&2; kubectl get nodes -o wide; exit 1; }}; '
        "sleep 2; done"
    )


def images_present_script(references: Sequence[str], timeout_s: int) -> str:
    """Wait until the node lists each image k3s imported (the kubelet reports them in the
    node's status within a sync period)."""
    listing = "kubectl get nodes -o jsonpath='{.items[*].status.images[*].names[*]}'"
    checks = []
    for reference in references:
        quoted = shlex.quote(reference)
        checks.append(
            f"until {listing} | tr ' ' '\\n' | grep -qxF {quoted}; do "
            '[ "$(date +%s)" -lt "$deadline" ] || '
            f'{{ echo "k3s did not import {reference} within {timeout_s} s" >&2; exit 1; }}; '
            "sleep 2; done"
        )
    return f"deadline=$(( $(date +%s) + {timeout_s} )); " + "; ".join(checks)
