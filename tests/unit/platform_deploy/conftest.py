"""The repository's own environments, loaded once for the deploy engine's unit tests."""

from __future__ import annotations

import pytest

from platform_deploy.config.deploy_settings import DeploySettings
from platform_deploy.config.environments import Environment, EnvironmentName, load_environments
from platform_deploy.config.versions import Versions, load_versions


@pytest.fixture(scope="session")
def environments() -> dict[EnvironmentName, Environment]:
    return load_environments()


@pytest.fixture(scope="session")
def settings(
    environments: dict[EnvironmentName, Environment],
) -> dict[EnvironmentName, DeploySettings]:
    """Each environment's `deploy:` settings, for tests that vary them."""
    return {name: environment.deploy for name, environment in environments.items()}


@pytest.fixture(scope="session")
def versions() -> Versions:
    return load_versions()
