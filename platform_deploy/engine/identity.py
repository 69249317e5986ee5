"""The cluster-identity guard: is the cluster this kubeconfig reaches the environment's?

A context's name says nothing (anyone can name a context "prod"); the API server's URL or,
better, the UID of the cluster's kube-system namespace (created once, with the cluster) do.
"""

from __future__ import annotations

from dataclasses import dataclass

from platform_deploy.config.deploy_settings import PLACEHOLDER_PREFIX, ClusterIdentity


class IdentityError(RuntimeError):
    """The reached cluster is not the environment's, or the environment does not say which."""


@dataclass(frozen=True)
class ObservedCluster:
    api_server: str
    kube_system_uid: str


def _normalise(url: str) -> str:
    return url.strip().rstrip("/").lower()


def check_identity(environment: str, expected: ClusterIdentity, observed: ObservedCluster) -> str:
    """A one-line confirmation of what matched; IdentityError when anything does not."""
    if expected.kube_system_uid is not None:
        if expected.kube_system_uid.startswith(PLACEHOLDER_PREFIX):
            raise IdentityError(
                f"{environment}: the cluster's kube-system UID in deploy/environments.yaml is a "
                "placeholder; an operator must fill it in (the reached cluster's is "
                f"{observed.kube_system_uid}) before anything runs"
            )
        if expected.kube_system_uid != observed.kube_system_uid:
            raise IdentityError(
                f"{environment}: wrong cluster: kube-system UID is {observed.kube_system_uid}, "
                f"the environment names {expected.kube_system_uid} "
                f"(API server {observed.api_server})"
            )
        return f"cluster identity: kube-system UID {observed.kube_system_uid}"
    if expected.api_server is None:
        raise IdentityError(f"{environment}: the environment names no cluster identity")
    if _normalise(expected.api_server) != _normalise(observed.api_server):
        raise IdentityError(
            f"{environment}: wrong cluster: the kubeconfig reaches {observed.api_server}, "
            f"the environment names {expected.api_server}"
        )
    return f"cluster identity: API server {observed.api_server}"
