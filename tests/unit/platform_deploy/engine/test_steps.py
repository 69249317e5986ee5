"""Step order and dependencies, for each environment."""

from __future__ import annotations

import pytest

from platform_deploy.config.deploy_settings import DeploySettings
from platform_deploy.config.environments import Environment, EnvironmentName
from platform_deploy.engine.steps import PlanError, Step, deploy_steps, ordered


def _names(environment: Environment, settings: DeploySettings) -> list[str]:
    return [step.name for step in ordered(deploy_steps(environment, settings))]


def test_ci_order(
    environments: dict[EnvironmentName, Environment],
    settings: dict[EnvironmentName, DeploySettings],
) -> None:
    assert _names(environments["ci"], settings["ci"]) == [
        "preflight",
        "namespaces",
        "secrets (generated)",
        "release redis",
        "release langfuse",
        "release platform",
        "policies",
        "verify",
    ]


def test_prod_order_has_no_test_redis_and_waits_for_synced_secrets(
    environments: dict[EnvironmentName, Environment],
    settings: dict[EnvironmentName, DeploySettings],
) -> None:
    assert _names(environments["prod"], settings["prod"]) == [
        "preflight",
        "namespaces",
        "secrets (external-secrets)",
        "release langfuse",
        "release platform",
        "policies",
        "verify",
    ]


def test_deploy_without_verify_ends_with_the_policies(
    environments: dict[EnvironmentName, Environment],
    settings: dict[EnvironmentName, DeploySettings],
) -> None:
    steps = ordered(deploy_steps(environments["ci"], settings["ci"], verify=False))
    assert [step.name for step in steps][-1] == "policies"
    assert all(step.kind != "verify" for step in steps)


def test_every_step_comes_after_what_it_needs(
    environments: dict[EnvironmentName, Environment],
    settings: dict[EnvironmentName, DeploySettings],
) -> None:
    for name, environment in environments.items():
        seen: set[str] = set()
        for step in ordered(deploy_steps(environment, settings[name])):
            assert set(step.needs) <= seen, step.name
            seen.add(step.name)


def test_order_follows_dependencies_not_listing() -> None:
    steps = [Step("b", "release", ("a",)), Step("a", "namespaces")]
    assert [s.name for s in ordered(steps)] == ["a", "b"]


def test_cycles_and_unknown_dependencies_are_refused() -> None:
    with pytest.raises(PlanError, match="cycle"):
        ordered([Step("a", "release", ("b",)), Step("b", "release", ("a",))])
    with pytest.raises(PlanError, match="not a step"):
        ordered([Step("a", "release", ("nowhere",))])
