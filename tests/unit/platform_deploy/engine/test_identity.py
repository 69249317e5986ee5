"""The guard that refuses a cluster that is not the environment's."""

from __future__ import annotations

import dataclasses

import pytest

from platform_deploy.config.deploy_settings import ClusterIdentity, DeploySettings
from platform_deploy.config.environments import EnvironmentName
from platform_deploy.engine.identity import IdentityError, ObservedCluster, check_identity

# A real kube-system namespace's metadata.uid shape.
UID = "6c1f9a0e-2b7d-4c55-9d0e-3f1b8a7c2e11"
OTHER_UID = "0a9b8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d"


def test_prod_identity_is_a_marked_placeholder_and_the_guard_refuses_it(
    settings: dict[EnvironmentName, DeploySettings],
) -> None:
    identity = settings["prod"].cluster
    assert identity.kube_system_uid is not None
    assert identity.api_server is None
    with pytest.raises(IdentityError, match="placeholder"):
        check_identity("prod", identity, ObservedCluster("https://10.0.0.1:6443", UID))


def test_uid_identity_matches_only_that_cluster() -> None:
    expected = ClusterIdentity(kube_system_uid=UID)
    ok = check_identity("prod", expected, ObservedCluster("https://10.0.0.1:6443", UID))
    assert UID in ok
    with pytest.raises(IdentityError, match="wrong cluster"):
        check_identity("prod", expected, ObservedCluster("https://10.0.0.1:6443", OTHER_UID))


def test_api_server_identity_ignores_trailing_slash_and_case_only() -> None:
    expected = ClusterIdentity(api_server="https://k3s:6443")
    check_identity("ci", expected, ObservedCluster("HTTPS://k3s:6443/", UID))
    with pytest.raises(IdentityError, match="wrong cluster"):
        check_identity("ci", expected, ObservedCluster("https://127.0.0.1:6443", UID))


def test_the_context_name_plays_no_part(settings: dict[EnvironmentName, DeploySettings]) -> None:
    # The guard takes only what the API server answered: there is no context parameter.
    fields = {f.name for f in dataclasses.fields(ObservedCluster)}
    assert fields == {"api_server", "kube_system_uid"}
