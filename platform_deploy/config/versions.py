"""The pinned versions in deploy/versions.yaml: one place for the checks and the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from platform_deploy.config.files import DEPLOY_DIR, load_mapping

VERSIONS_FILE = DEPLOY_DIR / "versions.yaml"


@dataclass(frozen=True)
class ChartPin:
    name: str
    version: str
    repository: str


@dataclass(frozen=True)
class Versions:
    k3s: str
    k3s_image: str
    kubernetes: str
    charts: dict[str, ChartPin]

    def chart(self, name: str) -> ChartPin:
        try:
            return self.charts[name]
        except KeyError:
            raise KeyError(f"{name!r} is not pinned in {VERSIONS_FILE.name}") from None


def load_versions(path: Path = VERSIONS_FILE) -> Versions:
    data = load_mapping(path)
    kubernetes = data["kubernetes"]
    charts = {
        name: ChartPin(name=name, version=str(pin["version"]), repository=str(pin["repository"]))
        for name, pin in data["charts"].items()
    }
    return Versions(
        k3s=str(kubernetes["k3s"]),
        k3s_image=str(kubernetes["k3sImage"]),
        kubernetes=str(kubernetes["version"]),
        charts=charts,
    )
