"""deploy/policies/allowed-paths.yaml: the connections the policies allow, and the README
table generated from it. The connectivity check compares nca's computation with this."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platform_deploy.config.environments import ENVIRONMENT_NAMES, EnvironmentName
from platform_deploy.config.files import DEPLOY_DIR, load_mapping

POLICIES_DIR = DEPLOY_DIR / "policies"
PATHS_FILE = POLICIES_DIR / "allowed-paths.yaml"
README = POLICIES_DIR / "README.md"
TABLE_BEGIN = "<!-- allowed-paths:begin (generated from allowed-paths.yaml) -->"
TABLE_END = "<!-- allowed-paths:end -->"

# (source workload, destination workload) -> allowed TCP ports; workloads as namespace/name.
Edges = dict[tuple[str, str], frozenset[int]]


@dataclass(frozen=True)
class Endpoint:
    name: str
    description: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class AllowedPath:
    source: str
    destination: str
    ports: tuple[int, ...]
    environments: tuple[EnvironmentName, ...]
    why: str


@dataclass(frozen=True)
class AllowedPaths:
    endpoints: Mapping[str, Endpoint]
    protected: Mapping[EnvironmentName, tuple[str, ...]]
    paths: tuple[AllowedPath, ...]

    def protected_workloads(self, environment: EnvironmentName) -> frozenset[str]:
        return frozenset(
            member
            for name in self.protected[environment]
            for member in self.endpoints[name].members
        )

    def expected(self, environment: EnvironmentName) -> Edges:
        """Every (source, destination) workload pair the paths open, with its ports.
        A workload's traffic to itself is not a network path and is left out."""
        edges: dict[tuple[str, str], set[int]] = {}
        for path in self.paths:
            if environment not in path.environments:
                continue
            for source in self.endpoints[path.source].members:
                for destination in self.endpoints[path.destination].members:
                    if source != destination:
                        edges.setdefault((source, destination), set()).update(path.ports)
        return {pair: frozenset(ports) for pair, ports in edges.items()}


def _environments(raw: Any, where: str) -> tuple[EnvironmentName, ...]:
    found = tuple(name for name in ENVIRONMENT_NAMES if name in raw)
    if len(found) != len(raw):
        raise ValueError(f"{where}: unknown environment in {raw}")
    return found


def load_allowed_paths(path: Path = PATHS_FILE) -> AllowedPaths:
    data = load_mapping(path)
    endpoints = {
        name: Endpoint(name, str(spec["description"]), tuple(spec["members"]))
        for name, spec in data["endpoints"].items()
    }
    protected = {
        env: tuple(data["protected"][env]) for env in ENVIRONMENT_NAMES if env in data["protected"]
    }
    paths = tuple(
        AllowedPath(
            source=str(raw["from"]),
            destination=str(raw["to"]),
            ports=tuple(int(port) for port in raw["ports"]),
            environments=_environments(raw["environments"], f"path {raw['from']} -> {raw['to']}"),
            why=str(raw["why"]),
        )
        for raw in data["paths"]
    )
    for allowed in paths:
        for name in (allowed.source, allowed.destination):
            if name not in endpoints:
                raise ValueError(f"{path.name}: path names unknown endpoint {name!r}")
    for env, names in protected.items():
        unknown = [name for name in names if name not in endpoints]
        if unknown:
            raise ValueError(f"{path.name}: protected[{env}] names unknown {unknown}")
    return AllowedPaths(endpoints=endpoints, protected=protected, paths=paths)


def table(allowed: AllowedPaths) -> str:
    rows = [
        "| from | to | TCP port | ci | prod | why |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for path in allowed.paths:
        marks = ["yes" if env in path.environments else "no" for env in ENVIRONMENT_NAMES]
        rows.append(
            f"| {allowed.endpoints[path.source].description} "
            f"| {allowed.endpoints[path.destination].description} "
            f"| {', '.join(str(port) for port in path.ports)} | {' | '.join(marks)} | {path.why} |"
        )
    return "\n".join(rows)


def readme_with_table(readme: str, allowed: AllowedPaths) -> str:
    begin, end = readme.index(TABLE_BEGIN), readme.index(TABLE_END)
    return readme[: begin + len(TABLE_BEGIN)] + "\n" + table(allowed) + "\n" + readme[end:]


def generated_files() -> dict[Path, str]:
    """The README with its table of allowed paths, as `invoke generate` writes it."""
    return {README: readme_with_table(README.read_text(encoding="utf-8"), load_allowed_paths())}
