"""Comparing nca's computed connectivity with the table of allowed paths, both ways: every
allowed path is open with exactly its ports, and nothing else reaches a protected pod."""

from __future__ import annotations

from collections.abc import Iterable

from platform_deploy.checks.allowed_paths import AllowedPaths
from platform_deploy.checks.nca import Connection
from platform_deploy.config.environments import EnvironmentName


def _shown(allowed: Iterable[str]) -> str:
    return ", ".join(sorted(allowed)) or "nothing"


def differences(
    connections: list[Connection],
    allowed: AllowedPaths,
    environment: EnvironmentName,
    workloads: Iterable[str],
) -> list[str]:
    """What differs, one sentence each; empty when the policies do what the table says.

    workloads: every namespace/name in the topology, so that a protected pod that is missing
    from it (and would make every comparison vacuous) is itself a difference.
    """
    present = set(workloads)
    protected = allowed.protected_workloads(environment)
    problems = [
        f"{workload}: protected in {environment} but not in the topology"
        for workload in sorted(protected - present)
    ]
    expected = {
        pair: frozenset(f"TCP/{port}" for port in ports)
        for pair, ports in allowed.expected(environment).items()
    }
    observed = {
        (c.source, c.destination): c.allowed for c in connections if c.destination in protected
    }
    for (source, destination), want in sorted(expected.items()):
        got = observed.get((source, destination), frozenset())
        if got != want:
            problems.append(
                f"{source} -> {destination}: the policies allow {_shown(got)}, "
                f"the table {_shown(want)}"
            )
    for (source, destination), got in sorted(observed.items()):
        if (source, destination) not in expected:
            problems.append(f"{source} -> {destination}: open ({_shown(got)}), not in the table")
    return problems
