"""deploy/environments.yaml: what each environment installs, in order, with which values."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from platform_deploy.config.files import DEPLOY_DIR, REPO_ROOT, load_mapping

ENVIRONMENTS_FILE = DEPLOY_DIR / "environments.yaml"
EnvironmentName = Literal["ci", "prod"]
ENVIRONMENT_NAMES: tuple[EnvironmentName, ...] = ("ci", "prod")
SecretStoreKind = Literal["fake", "doppler"]


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
    secret_store: SecretStoreKind
    releases: tuple[Release, ...]
    policy_dirs: tuple[Path, ...]

    def release(self, name: str) -> Release:
        for release in self.releases:
            if release.name == name:
                return release
        raise KeyError(f"environment {self.name} has no release {name!r}")

    def has_release(self, name: str) -> bool:
        return any(release.name == name for release in self.releases)


def _environment_name(name: str) -> EnvironmentName:
    for known in ENVIRONMENT_NAMES:
        if name == known:
            return known
    raise ValueError(f"{ENVIRONMENTS_FILE.name}: unknown environment {name!r}")


def _store(kind: str) -> SecretStoreKind:
    if kind == "fake":
        return "fake"
    if kind == "doppler":
        return "doppler"
    raise ValueError(f"{ENVIRONMENTS_FILE.name}: unknown secretStore {kind!r}")


def load_environments(path: Path = ENVIRONMENTS_FILE) -> dict[EnvironmentName, Environment]:
    environments: dict[EnvironmentName, Environment] = {}
    for raw_name, spec in load_mapping(path)["environments"].items():
        name = _environment_name(raw_name)
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
        environments[name] = Environment(
            name=name,
            secret_store=_store(str(spec["secretStore"])),
            releases=releases,
            policy_dirs=tuple(REPO_ROOT / directory for directory in spec["policies"]),
        )
    return environments
