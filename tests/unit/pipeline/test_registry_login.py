"""Which Docker Hub login the pipeline uses: the environment's pair, else the Docker config's
plain auth entry, else none; and no note ever carries a credential."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from pipeline.registry_login import (
    LoginDecision,
    RegistryLogin,
    docker_config_path,
    docker_hub_login,
)

USER = "ci-bot"
# Made up for the tests, never a real credential.
WORD = "not-a-real-one-" + "x" * 8


def encoded(pair: str) -> str:
    return base64.b64encode(pair.encode()).decode()


def decide(env: dict[str, str], config: Mapping[str, object] | None) -> LoginDecision:
    text = None if config is None else json.dumps(config)
    return docker_hub_login({"HOME": "/home/u", **env}, lambda path: text)


def assert_no_credential(decision: LoginDecision) -> None:
    assert WORD not in decision.note
    assert USER not in decision.note
    assert WORD not in repr(decision)


def test_the_environments_pair_comes_first() -> None:
    config = {"auths": {"https://index.docker.io/v1/": {"auth": encoded(f"other:{WORD}")}}}
    decision = decide({"DOCKERHUB_USERNAME": USER, "DOCKERHUB_TOKEN": WORD}, config)
    assert decision.login == RegistryLogin(USER, WORD, "DOCKERHUB_USERNAME and DOCKERHUB_TOKEN")
    assert decision.note == "the login from DOCKERHUB_USERNAME and DOCKERHUB_TOKEN"
    assert_no_credential(decision)


@pytest.mark.parametrize(
    "key", ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"]
)
def test_the_docker_configs_plain_auth_entry_for_docker_hub(key: str) -> None:
    config = {
        "auths": {
            "ghcr.io": {"auth": encoded(f"someone:{WORD}-ghcr")},
            key: {"auth": encoded(f"{USER}:{WORD}")},
        }
    }
    decision = decide({}, config)
    path = Path("/home/u/.docker/config.json")
    assert decision.login == RegistryLogin(USER, WORD, str(path))
    assert decision.note == f"the login in {path} (its auth entry)"
    assert_no_credential(decision)


def test_a_password_may_hold_colons() -> None:
    config = {"auths": {"docker.io": {"auth": encoded(f"{USER}:{WORD}:more")}}}
    login = decide({}, config).login
    assert login is not None
    assert login.password == f"{WORD}:more"


@pytest.mark.parametrize(
    ("config", "helper"),
    [
        ({"auths": {"https://index.docker.io/v1/": {}}, "credsStore": "desktop"}, "desktop"),
        ({"credHelpers": {"docker.io": "pass"}, "credsStore": "desktop"}, "pass"),
        ({"credHelpers": {"ghcr.io": "gh"}, "credsStore": "osxkeychain"}, "osxkeychain"),
    ],
)
def test_a_credential_helper_is_named_in_one_line_and_not_run(
    config: dict[str, object], helper: str
) -> None:
    decision = decide({}, config)
    assert decision.login is None
    assert decision.note.startswith("anonymous for k3s and its mirror: ")
    assert f"docker-credential-{helper}, which the pipeline does not run" in decision.note
    assert "\n" not in decision.note


def test_an_entry_that_is_not_user_colon_password_is_not_used() -> None:
    decision = decide({}, {"auths": {"docker.io": {"auth": encoded(USER)}}})
    assert decision.login is None
    assert "is not user:password" in decision.note
    assert_no_credential(decision)
    assert decide({}, {"auths": {"docker.io": {"auth": "%%%"}}}).login is None


def test_without_any_login_the_pulls_are_anonymous() -> None:
    assert decide({}, None) == LoginDecision(
        None, "anonymous: no DOCKERHUB_USERNAME/DOCKERHUB_TOKEN, no /home/u/.docker/config.json"
    )
    assert decide({}, {"auths": {"ghcr.io": {"auth": encoded(f"{USER}:{WORD}")}}}).login is None


def test_half_a_pair_is_not_used_and_says_so() -> None:
    decision = decide({"DOCKERHUB_USERNAME": USER}, None)
    assert decision.login is None
    assert decision.note.startswith(
        "DOCKERHUB_USERNAME is set without DOCKERHUB_TOKEN (not used); anonymous"
    )
    assert_no_credential(decision)
    # The Docker config still counts.
    config = {"auths": {"docker.io": {"auth": encoded(f"{USER}:{WORD}")}}}
    assert decide({"DOCKERHUB_TOKEN": WORD}, config).login is not None


def test_the_docker_config_is_where_docker_keeps_it() -> None:
    assert docker_config_path({"DOCKER_CONFIG": "/etc/ci-docker"}) == Path(
        "/etc/ci-docker/config.json"
    )
    assert docker_config_path({"HOME": "/home/u"}) == Path("/home/u/.docker/config.json")


def test_the_real_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {"docker.io": {"auth": encoded(f"{USER}:{WORD}")}}})
    )
    decision = docker_hub_login({"DOCKER_CONFIG": str(tmp_path)})
    assert decision.login == RegistryLogin(USER, WORD, str(tmp_path / "config.json"))
    (tmp_path / "config.json").write_text("{not json")
    assert docker_hub_login({"DOCKER_CONFIG": str(tmp_path)}).note.endswith("is not JSON")
