"""The cluster the connectivity check computes over: namespaces, the platform's rendered
workloads, the Langfuse chart's pods as the chart labels them, and the other pods the
policies name (deploy/policies/cluster-peers.yaml)."""

from __future__ import annotations

from dataclasses import dataclass

from platform_deploy.checks.langfuse_chart import Reference
from platform_deploy.config.environments import EnvironmentName
from platform_deploy.config.files import DEPLOY_DIR, Manifest, load_mapping
from platform_deploy.rendering import EnvironmentRender

PEERS_FILE = DEPLOY_DIR / "policies" / "cluster-peers.yaml"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Pod"}


@dataclass(frozen=True)
class Topology:
    resources: list[Manifest]  # namespaces and workloads
    policies: list[Manifest]  # every NetworkPolicy that would be applied
    chart_policies: list[str]  # which of those the Langfuse chart renders itself
    langfuse_source: str  # where the Langfuse pods and policies came from


def peer_pods(environment: EnvironmentName) -> list[Manifest]:
    pods = []
    for peer in load_mapping(PEERS_FILE)["peers"]:
        if environment not in peer.get("environments", ["ci", "prod"]):
            continue
        ports = [{"containerPort": int(port), "protocol": "TCP"} for port in peer.get("ports", [])]
        pods.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": peer["name"],
                    "namespace": peer["namespace"],
                    "labels": dict(peer["labels"]),
                },
                "spec": {"containers": [{"name": "main", "image": "peer", "ports": ports}]},
            }
        )
    return pods


def namespaces(objects: list[Manifest]) -> list[Manifest]:
    names = sorted({str(obj["metadata"]["namespace"]) for obj in objects})
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
        }
        for name in names
    ]


def build(render: EnvironmentRender, reference: Reference) -> Topology:
    environment = render.environment
    project = render.project()
    if render.langfuse is not None:
        langfuse = render.langfuse
        source = "the Langfuse chart rendered with this environment's values"
    else:
        release = environment.release("langfuse")
        values = reference.merged_values(release.values)
        langfuse = reference.workloads(values) + reference.policies(values)
        source = f"the chart's reference inventory ({render.langfuse_unavailable})"
    chart_policies = [m for m in langfuse if m.get("kind") == "NetworkPolicy"]
    workloads = [m for m in project + langfuse if m.get("kind") in WORKLOAD_KINDS]
    workloads += peer_pods(environment.name)
    policies = [m for m in project if m.get("kind") == "NetworkPolicy"] + chart_policies
    return Topology(
        resources=namespaces(workloads + policies) + workloads,
        policies=policies,
        chart_policies=[m["metadata"]["name"] for m in chart_policies],
        langfuse_source=source,
    )
