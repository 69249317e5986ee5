"""The deploy's steps and their dependencies, and the order they run in: pure, no cluster.

Each step names the steps it needs; `ordered` turns them into a sequence (stable: among the
steps that are ready, the declared order wins) and refuses cycles and unknown dependencies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from platform_deploy.config.deploy_settings import DeploySettings
from platform_deploy.config.environments import Environment

StepKind = Literal["preflight", "namespaces", "secrets", "release", "policies", "verify"]


class PlanError(ValueError):
    """The steps cannot be ordered: a cycle, or a dependency that is not a step."""


@dataclass(frozen=True)
class Step:
    name: str
    kind: StepKind
    needs: tuple[str, ...] = ()
    # The release a "release" step installs.
    release: str | None = None


def deploy_steps(
    environment: Environment, settings: DeploySettings, verify: bool = True
) -> list[Step]:
    """Namespaces, secrets, each release after the one before it, policies, verification
    (unless the caller verifies on its own, as the pipeline does in a stage of its own)."""
    secrets = f"secrets ({settings.secrets.source})"
    steps = [
        Step("preflight", "preflight"),
        Step("namespaces", "namespaces", ("preflight",)),
        Step(secrets, "secrets", ("namespaces",)),
    ]
    previous = secrets
    for release in environment.releases:
        # Releases in environments.yaml order: Langfuse needs the Redis before it, the
        # platform needs Langfuse (LiteLLM sends its traces there).
        name = f"release {release.name}"
        steps.append(Step(name, "release", (previous,), release=release.name))
        previous = name
    steps.append(Step("policies", "policies", (previous,)))
    if verify:
        steps.append(Step("verify", "verify", ("policies",)))
    return steps


def ordered(steps: Sequence[Step]) -> list[Step]:
    names = [step.name for step in steps]
    if len(set(names)) != len(names):
        raise PlanError("two steps share a name")
    for step in steps:
        for need in step.needs:
            if need not in names:
                raise PlanError(f"step {step.name!r} needs {need!r}, which is not a step")
    done: list[Step] = []
    remaining = list(steps)
    while remaining:
        ready = [s for s in remaining if all(n in {d.name for d in done} for n in s.needs)]
        if not ready:
            cycle = ", ".join(s.name for s in remaining)
            raise PlanError(f"the steps depend on each other in a cycle: {cycle}")
        done.append(ready[0])
        remaining.remove(ready[0])
    return done
