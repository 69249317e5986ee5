"""Which Docker Hub login the pipeline uses, if any: decided on the host before Dagger starts.

One run pulls about 15 images from Docker Hub (base images, k3s's own, the Langfuse stack's),
which anonymous pulls' rate limit does not always allow. Where credentials are given they
are used for every pull (containers.py): Dagger's own (`from_`, the Dockerfiles' FROM), the
docker.io mirror's upstream, and k3s's pulls without the mirror.

- In GitHub Actions: the secret pair DOCKERHUB_USERNAME and DOCKERHUB_TOKEN (an access token,
  read-only is enough), read only from the environment.
- Locally: the user's Docker config (`$DOCKER_CONFIG/config.json`, else
  `~/.docker/config.json`), its plain `auth` entry for Docker Hub. A credential helper
  (`credsStore`, `credHelpers`) is not run here; Dagger's CLI still uses it for Dagger's own
  pulls.

Nothing here prints or returns a credential in a note: notes go to the log and the summary.
Standard library only.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DOCKER_HUB = "docker.io"
USERNAME_ENV = "DOCKERHUB_USERNAME"
TOKEN_ENV = "DOCKERHUB_TOKEN"  # noqa: S105  (an environment variable's name)
# The names `docker login` and other clients file Docker Hub under in config.json.
DOCKER_HUB_HOSTS = ("docker.io", "index.docker.io", "registry-1.docker.io")


@dataclass(frozen=True)
class RegistryLogin:
    username: str
    password: str = field(repr=False)  # never in a repr, so never in a traceback or a log
    source: str  # where it came from, for the notes


@dataclass(frozen=True)
class LoginDecision:
    login: RegistryLogin | None
    note: str  # "Docker Hub: <note>" in the log and the summary; never a credential


def docker_config_path(env: Mapping[str, str] = os.environ) -> Path:
    """Where the Docker CLI keeps its config: $DOCKER_CONFIG/config.json, else ~/.docker."""
    directory = env.get("DOCKER_CONFIG")
    if directory:
        return Path(directory).expanduser() / "config.json"
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return home / ".docker" / "config.json"


def _is_docker_hub(key: str) -> bool:
    host = key.split("://", 1)[-1].split("/", 1)[0]
    return host in DOCKER_HUB_HOSTS


def login_from_docker_config(text: str, path: Path) -> LoginDecision:
    """Docker Hub's plain `auth` entry of a Docker config, or why there is none."""
    try:
        config: Any = json.loads(text)
    except json.JSONDecodeError:
        return LoginDecision(None, f"anonymous: {path} is not JSON")
    if not isinstance(config, dict):
        return LoginDecision(None, f"anonymous: {path} is not a JSON object")
    auths = config.get("auths")
    entries = auths if isinstance(auths, dict) else {}
    for key, entry in entries.items():
        encoded = entry.get("auth") if isinstance(entry, dict) else None
        if not _is_docker_hub(str(key)) or not encoded:
            continue
        try:
            username, sep, password = base64.b64decode(str(encoded)).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            username, sep, password = "", "", ""
        if not (sep and username and password):
            return LoginDecision(
                None, f"anonymous: the Docker Hub auth entry in {path} is not user:password"
            )
        return LoginDecision(
            RegistryLogin(username, password, str(path)), f"the login in {path} (its auth entry)"
        )
    helper = _credential_helper(config)
    if helper:
        return LoginDecision(
            None,
            f"anonymous for k3s and its mirror: the login is in docker-credential-{helper}, "
            f"which the pipeline does not run (Dagger's own pulls use it; {USERNAME_ENV} and "
            f"{TOKEN_ENV} would log in all three)",
        )
    return LoginDecision(None, f"anonymous: no {USERNAME_ENV}/{TOKEN_ENV}, no login in {path}")


def _credential_helper(config: Mapping[str, Any]) -> str | None:
    """The helper Docker would ask for Docker Hub: its own `credHelpers` entry, else
    `credsStore`."""
    helpers = config.get("credHelpers")
    if isinstance(helpers, dict):
        for key, name in helpers.items():
            if _is_docker_hub(str(key)) and name:
                return str(name)
    store = config.get("credsStore")
    return str(store) if store else None


def read_text_or_none(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def docker_hub_login(
    env: Mapping[str, str] = os.environ,
    read_text: Callable[[Path], str | None] = read_text_or_none,
) -> LoginDecision:
    """The environment's secret pair first, then the Docker config; else anonymous."""
    username, token = env.get(USERNAME_ENV, ""), env.get(TOKEN_ENV, "")
    if username and token:
        return LoginDecision(
            RegistryLogin(username, token, f"{USERNAME_ENV} and {TOKEN_ENV}"),
            f"the login from {USERNAME_ENV} and {TOKEN_ENV}",
        )
    half = ""
    if username or token:
        given, missing = (USERNAME_ENV, TOKEN_ENV) if username else (TOKEN_ENV, USERNAME_ENV)
        half = f"{given} is set without {missing} (not used); "
    path = docker_config_path(env)
    text = read_text(path)
    if text is None:
        return LoginDecision(None, f"{half}anonymous: no {USERNAME_ENV}/{TOKEN_ENV}, no {path}")
    decision = login_from_docker_config(text, path)
    return LoginDecision(decision.login, half + decision.note)
