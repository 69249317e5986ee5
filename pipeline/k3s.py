"""k3s inside a Dagger service: its start-up scripts, server arguments, registry mirror
configuration and the kubeconfig other containers use. Text only; containers.py wires it.

The recipe is the one dagger/dagger's e2e/helm suite runs (shared/facts/dagger.md): a cgroup
v2 entrypoint, state on cache volumes wiped at every start, traefik and metrics-server off,
the service alias in the API certificate, and a kubeconfig pointing at that alias.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

ALIAS = "k3s"  # the hostname tool containers reach the API server by
API_PORT = 6443
CONFIG_DIR = "/etc/rancher/k3s"  # a cache volume: kubeconfig and server log, read by others
DATA_DIR = "/var/lib/rancher"  # a cache volume: containerd needs a non-overlay filesystem
IMPORT_DIR = f"{DATA_DIR}/k3s/agent/images"  # k3s imports every archive here as it starts
ARCHIVES_DIR = "/pipeline/images"  # where the named image archives are mounted
ENTRYPOINT = "/pipeline/cgroup-entrypoint.sh"
REGISTRIES_FILE = "/pipeline/registries.yaml"
KUBECONFIG_NAME = "k3s.yaml"
SERVER_LOG_NAME = "k3s.log"
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
    """Before each start: a fresh cluster (no state from an earlier run), then our images
    in k3s's import folder, which only exists on the wiped state volume."""
    return "\n".join(
        [
            "set -eu",
            f"rm -rf {DATA_DIR}/k3s {CONFIG_DIR}/*",
            f"mkdir -p {IMPORT_DIR}",
            f"cp {ARCHIVES_DIR}/*.tar {IMPORT_DIR}/",
        ]
    )


def server_command(alias: str = ALIAS, private_registry: bool = False) -> list[str]:
    """`sh -c` arguments for the service: the server in the foreground, logging to the
    shared config volume so diagnostics can read the log after a failure."""
    args = [
        "k3s",
        "server",
        "--disable=traefik",
        "--disable=metrics-server",
        f"--tls-san={alias}",
        f"--write-kubeconfig={CONFIG_DIR}/{KUBECONFIG_NAME}",
        # One node in one container: the API server reaches the kubelet directly rather
        # than through k3s's agent tunnel (as dagger's e2e suite runs it).
        "--egress-selector-mode=disabled",
        f"--log={CONFIG_DIR}/{SERVER_LOG_NAME}",
        "--alsologtostderr",
    ]
    if private_registry:
        args.append(f"--private-registry={REGISTRIES_FILE}")
    # Bind the container's own address (as dagger's e2e suite does), found at start time.
    bind = "--bind-address=\"$(ip route | grep src | awk '{print $NF}' | head -n 1)\""
    return ["sh", "-c", f"{shlex.join(args)} {bind}"]


def registries_yaml(mirrors: Mapping[str, str]) -> str:
    """k3s's registries.yaml: registry host -> mirror endpoint (containerd falls back to the
    registry itself when the mirror fails)."""
    config = {"mirrors": {host: {"endpoint": [url]} for host, url in mirrors.items()}}
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
