"""The reference derived from the chart (LANGFUSE_CHART_DIR) equals the reference folder
(LANGFUSE_CHART_REFERENCE): the same default values and the same rendered inventory. Runs
only where both are set; elsewhere it skips, saying so."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from platform_deploy.checks.langfuse_chart import CHART_DIR_ENV, REFERENCE_ENV, Reference
from platform_deploy.helm.client import Helm


@pytest.fixture(scope="module")
def both(helm: Helm, tmp_path_factory: pytest.TempPathFactory) -> tuple[Reference, Reference]:
    folder, chart = os.environ.get(REFERENCE_ENV), os.environ.get(CHART_DIR_ENV)
    if not folder or not chart:
        pytest.skip(f"needs both {REFERENCE_ENV} and {CHART_DIR_ENV} set to compare them")
    derived = Reference.from_chart(helm, Path(chart), tmp_path_factory.mktemp("derived") / "ref")
    return Reference.from_folder(Path(folder)), derived


def test_the_derived_defaults_equal_the_folder(both: tuple[Reference, Reference]) -> None:
    folder, derived = both
    assert derived.chart_version() == folder.chart_version()
    assert derived.defaults().tree == folder.defaults().tree


def test_the_derived_inventory_equals_the_folder(both: tuple[Reference, Reference]) -> None:
    folder, derived = both
    assert derived.inventory() == folder.inventory()
