"""environments.yaml as data: one loader, behaviour as values, durations."""

from __future__ import annotations

import pytest

from platform_deploy.config.deploy_settings import DeploySettings, SettingsError, parse_duration
from platform_deploy.config.durations import helm_duration, human_duration
from platform_deploy.config.environments import EnvironmentName


def test_durations_round_trip() -> None:
    assert parse_duration("20m") == 1200
    assert parse_duration("1h30m") == 5400
    assert parse_duration("90s") == 90
    assert helm_duration(1200) == "20m0s"
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


def test_an_environment_names_exactly_one_identity(tmp_path: object) -> None:
    from pathlib import Path

    from platform_deploy.config.environments import ENVIRONMENTS_FILE, load_environments

    text = ENVIRONMENTS_FILE.read_text(encoding="utf-8").replace(
        "apiServer: https://k3s:6443", "apiServer: https://k3s:6443\n      kubeSystemUid: x"
    )
    path = Path(str(tmp_path)) / "environments.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError, match="exactly one"):
        load_environments(path)


def test_a_wait_is_watcher_or_legacy(tmp_path: object) -> None:
    from pathlib import Path

    from platform_deploy.config.environments import ENVIRONMENTS_FILE, load_environments

    text = ENVIRONMENTS_FILE.read_text(encoding="utf-8")
    assert text.count("langfuse: legacy") == 2
    # hookOnly waits for hooks only: a release would count as deployed before it is ready.
    path = Path(str(tmp_path)) / "environments.yaml"
    path.write_text(text.replace("langfuse: legacy", "langfuse: hookOnly", 1), encoding="utf-8")
    with pytest.raises(SettingsError, match=r"deploy\.ci\.waits\.langfuse: 'hookOnly'"):
        load_environments(path)
    settings = load_environments()["ci"].deploy
    assert (settings.wait("langfuse"), settings.wait("platform")) == ("legacy", "watcher")


def test_durations_for_people() -> None:
    assert human_duration(0.42) == "0.4s"
    assert human_duration(59.94) == "59.9s"
    assert human_duration(133) == "2m 13s"
    assert human_duration(3725) == "1h 02m"
