"""deploy/environments.yaml, the one loader: what each environment installs, in order, with
which values, and how the deploy engine treats it (its `deploy:` entry)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from platform_deploy.config.deploy_settings import DeploySettings, parse_deploy_settings
from platform_deploy.config.files import (
    DEPLOY_DIR,
    REPO_ROOT,
    Manifest,
    load_manifests,
    load_mapping,
    yaml_files,
)

ENVIRONMENTS_FILE = DEPLOY_DIR / "environments.yaml"
EnvironmentName = Literal["ci", "prod"]
ENVIRONMENT_NAMES: tuple[EnvironmentName, ...] = ("ci", "prod")


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str
    # A chart directory in this repository, or the name of a chart pinned in versions.yaml.
    chart: str
    values: tuple[Path, ...]

    @property
    def local_chart(self) -> Path | None:
        path = REPO_ROOT / self.chart
        return path if (path / "Chart.yaml").is_file() else None


@dataclass(frozen=True)
class Environment:
    name: EnvironmentName
    releases: tuple[Release, ...]
    policy_dirs: tuple[Path, ...]
    # How the deploy engine treats this environment (confirmation, secrets, timeouts, ...).
    deploy: DeploySettings

    def release(self, name: str) -> Release:
        for release in self.releases:
            if release.name == name:
                return release
        raise KeyError(f"environment {self.name} has no release {name!r}")

    def has_release(self, name: str) -> bool:
        return any(release.name == name for release in self.releases)

    def policy_manifests(self) -> list[Manifest]:
        """The NetworkPolicies of the environment's policy folders, as they are applied."""
        return load_manifests(path for folder in self.policy_dirs for path in yaml_files(folder))


def environment_name(name: str) -> EnvironmentName:
    """The environment's name, checked against the known ones (the only such check)."""
    for known in ENVIRONMENT_NAMES:
        if name == known:
            return known
    raise ValueError(f"{ENVIRONMENTS_FILE.name}: unknown environment {name!r}")


def load_environments(path: Path = ENVIRONMENTS_FILE) -> dict[EnvironmentName, Environment]:
    data = load_mapping(path)
    deploy = data.get("deploy") or {}
    environments: dict[EnvironmentName, Environment] = {}
    for raw_name, spec in data["environments"].items():
        name = environment_name(str(raw_name))
        releases = tuple(
            Release(
                name=str(release["name"]),
                namespace=str(release["namespace"]),
                chart=str(release["chart"]),
                values=tuple(REPO_ROOT / value for value in release["values"]),
            )
            for release in spec["releases"]
        )
        for release in releases:
            for values_file in release.values:
                if not values_file.is_file():
                    raise FileNotFoundError(f"{name}/{release.name}: no values file {values_file}")
        if name not in deploy:
            raise ValueError(f"{path.name}: environment {name} has no deploy: entry")
        environments[name] = Environment(
            name=name,
            releases=releases,
            policy_dirs=tuple(REPO_ROOT / directory for directory in spec["policies"]),
            deploy=parse_deploy_settings(name, deploy[name]),
        )
    unknown = sorted(set(deploy) - set(environments))
    if unknown:
        raise ValueError(f"{path.name}: deploy: names no environment {', '.join(unknown)}")
    return environments
