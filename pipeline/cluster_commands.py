"""Every command the pipeline runs against the test cluster, in one place, so the deploy
engine can take them over: deploy, verify, and what is collected after a failure.

The deploy and verify decisions are the deploy engine's (`python -m platform_deploy`); the
pipeline only runs these command lines in the tools container, where the diagnostics
collector imports this (with the pipeline's lock and this repository, as everywhere else).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from platform_deploy.helm.releases import CURRENT_STATES

ENVIRONMENT = "ci"
# Every release for the diagnostics: the current states, and the ones an upgrade superseded.
HELM_EVERY_STATE = (*CURRENT_STATES, "--superseded")


def deploy_command(kubeconfig: str, environment: str = ENVIRONMENT) -> list[str]:
    return [
        "python",
        "-m",
        "platform_deploy",
        "deploy",
        "--env",
        environment,
        "--kubeconfig",
        kubeconfig,
        "--yes",
        # Verification is the pipeline's next stage, timed and reported on its own.
        "--no-verify",
    ]


def verify_command(kubeconfig: str, environment: str = ENVIRONMENT) -> list[str]:
    return [
        "python",
        "-m",
        "platform_deploy",
        "verify",
        "--env",
        environment,
        "--kubeconfig",
        kubeconfig,
    ]


@dataclass(frozen=True)
class Diagnostic:
    """One command whose output goes to one file of the diagnostics folder."""

    file: str
    argv: tuple[str, ...]


# Cluster-wide views, each independent of the others.
CLUSTER_DIAGNOSTICS: tuple[Diagnostic, ...] = (
    Diagnostic("nodes.txt", ("kubectl", "get", "nodes", "-o", "wide")),
    Diagnostic("pods.txt", ("kubectl", "get", "pods", "-A", "-o", "wide")),
    Diagnostic("events.txt", ("kubectl", "get", "events", "-A", "--sort-by=.lastTimestamp")),
    Diagnostic("pods-described.txt", ("kubectl", "describe", "pods", "-A")),
    Diagnostic("networkpolicies.yaml", ("kubectl", "get", "networkpolicies", "-A", "-o", "yaml")),
    Diagnostic("helm-releases.txt", ("helm", "list", "-A", *HELM_EVERY_STATE)),
)
# Machine-readable listings the per-pod and per-release commands are built from.
PODS_JSON: tuple[str, ...] = ("kubectl", "get", "pods", "-A", "-o", "json")
RELEASES_JSON: tuple[str, ...] = ("helm", "list", "-A", *HELM_EVERY_STATE, "-o", "json")


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in name)


def pod_log_diagnostics(pods: Mapping[str, Any]) -> list[Diagnostic]:
    """`kubectl logs` for every container of every pod (init containers too), current and
    previous (the run before a restart is usually the one that says why)."""
    diagnostics = []
    for pod in pods.get("items", []):
        metadata = pod.get("metadata", {})
        namespace, name = str(metadata.get("namespace", "")), str(metadata.get("name", ""))
        spec = pod.get("spec", {})
        containers = [*spec.get("initContainers", []), *spec.get("containers", [])]
        for container in containers:
            base = ("kubectl", "logs", "-n", namespace, name, "-c", str(container["name"]))
            stem = f"logs/{_safe(namespace)}/{_safe(name)}.{_safe(str(container['name']))}"
            diagnostics.append(Diagnostic(f"{stem}.log", (*base, "--timestamps")))
            diagnostics.append(
                Diagnostic(f"{stem}.previous.log", (*base, "--previous", "--timestamps"))
            )
    return diagnostics


def helm_status_diagnostics(releases: Sequence[Mapping[str, Any]]) -> list[Diagnostic]:
    """`helm status` of every release, pending and failed ones included."""
    return [
        Diagnostic(
            f"helm/{_safe(str(release['namespace']))}.{_safe(str(release['name']))}.txt",
            ("helm", "status", str(release["name"]), "-n", str(release["namespace"])),
        )
        for release in releases
    ]
