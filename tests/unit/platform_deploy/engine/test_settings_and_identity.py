"""Environments as data, and the guard that refuses a cluster that is not the environment's."""

from __future__ import annotations

import dataclasses

import pytest

from platform_deploy.config.deploy_settings import (
    ClusterIdentity,
    DeploySettings,
    SettingsError,
    format_duration,
    parse_duration,
)
from platform_deploy.config.environments import EnvironmentName
from platform_deploy.engine.identity import IdentityError, ObservedCluster, check_identity

# A real kube-system namespace's metadata.uid shape.
UID = "6c1f9a0e-2b7d-4c55-9d0e-3f1b8a7c2e11"
OTHER_UID = "0a9b8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d"


def test_durations_round_trip() -> None:
    assert parse_duration("20m") == 1200
    assert parse_duration("1h30m") == 5400
    assert parse_duration("90s") == 90
    assert format_duration(1200) == "20m0s"
    with pytest.raises(SettingsError):
        parse_duration("twenty minutes")
    with pytest.raises(SettingsError):
        parse_duration("")


def test_behaviour_is_data_not_environment_names(
    settings: dict[EnvironmentName, DeploySettings],
) -> None:
    ci, prod = settings["ci"], settings["prod"]
    assert (ci.confirm, ci.rollback_on_failure, ci.secrets.source) == (False, False, "generated")
    assert (prod.confirm, prod.rollback_on_failure, prod.secrets.source) == (
        True,
        True,
        "external-secrets",
    )
    # ClickHouse's slow first start gets the long timeout in both environments.
    assert ci.timeout_s("langfuse") >= 15 * 60
    assert prod.timeout_s("langfuse") >= 15 * 60
    assert ci.verify.langfuse_service is not None
    assert prod.verify.langfuse_url is not None


def test_every_release_has_a_timeout(settings: dict[EnvironmentName, DeploySettings]) -> None:
    from platform_deploy.config.environments import load_environments

    for name, environment in load_environments().items():
        for release in environment.releases:
            assert settings[name].timeout_s(release.name) > 0


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


def test_an_environment_names_exactly_one_identity(tmp_path: object) -> None:
    from pathlib import Path

    from platform_deploy.config.deploy_settings import load_deploy_settings
    from platform_deploy.config.environments import ENVIRONMENTS_FILE

    text = ENVIRONMENTS_FILE.read_text(encoding="utf-8").replace(
        "apiServer: https://k3s:6443", "apiServer: https://k3s:6443\n      kubeSystemUid: x"
    )
    path = Path(str(tmp_path)) / "environments.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError, match="exactly one"):
        load_deploy_settings(path)


def test_a_wait_is_watcher_or_legacy(tmp_path: object) -> None:
    from pathlib import Path

    from platform_deploy.config.deploy_settings import load_deploy_settings
    from platform_deploy.config.environments import ENVIRONMENTS_FILE

    text = ENVIRONMENTS_FILE.read_text(encoding="utf-8")
    assert text.count("langfuse: legacy") == 2
    # hookOnly waits for hooks only: a release would count as deployed before it is ready.
    path = Path(str(tmp_path)) / "environments.yaml"
    path.write_text(text.replace("langfuse: legacy", "langfuse: hookOnly", 1), encoding="utf-8")
    with pytest.raises(SettingsError, match=r"deploy\.ci\.waits\.langfuse: 'hookOnly'"):
        load_deploy_settings(path)
    settings = load_deploy_settings()["ci"]
    assert (settings.wait("langfuse"), settings.wait("platform")) == ("legacy", "watcher")
