"""The digests file: the platform chart's own value paths, and a digest its format check takes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pipeline import digests
from pipeline.images import platform_values, production_repositories
from platform_deploy.checks.values_keys import unknown_paths
from platform_deploy.config.files import load_mapping

REPO_ROOT = Path(__file__).resolve().parents[3]
GATEWAY = digests.PublishedImage(
    "gateway", "ghcr.io/el-jefe-me/ai-platform/gateway", "sha256:" + "a1" * 32
)
LITELLM = digests.PublishedImage(
    "litellm", "ghcr.io/el-jefe-me/ai-platform/litellm", "sha256:" + "b2" * 32
)


def test_the_digest_is_read_from_what_publish_returns() -> None:
    address = "ghcr.io/el-jefe-me/ai-platform/gateway:0123abc@sha256:" + "c3" * 32
    assert digests.digest_of(address) == "sha256:" + "c3" * 32


@pytest.mark.parametrize(
    "address",
    ["ghcr.io/x/gateway:0123abc", "ghcr.io/x/gateway@sha256:short", "ghcr.io/x/gateway@md5:00"],
)
def test_an_address_without_a_sha256_digest_is_refused(address: str) -> None:
    with pytest.raises(ValueError, match="no sha256 digest"):
        digests.digest_of(address)


def test_the_file_is_platform_values_with_repository_and_digest() -> None:
    text = digests.render([GATEWAY, LITELLM], "0123abc")
    assert text.startswith("# Written by the pipeline")
    assert "0123abc" in text
    assert yaml.safe_load(text) == {
        "images": {
            "gateway": {"repository": GATEWAY.repository, "digest": GATEWAY.digest},
            "litellm": {"repository": LITELLM.repository, "digest": LITELLM.digest},
        }
    }
    assert digests.parse(text) == [GATEWAY, LITELLM]


def test_the_chart_knows_every_path_and_its_format_check_takes_the_digest() -> None:
    chart = REPO_ROOT / "deploy" / "charts" / "platform"
    values = yaml.safe_load(digests.render([GATEWAY, LITELLM], "0123abc"))
    assert unknown_paths(values, load_mapping(chart / "values.yaml")) == []
    helpers = (chart / "templates" / "_helpers.tpl").read_text()
    pattern = re.search(r'regexMatch "([^"]+)" \$image\.digest', helpers)
    assert pattern is not None, "the chart's digest format check moved"
    for image in (GATEWAY, LITELLM):
        assert re.search(pattern.group(1), image.digest)


def test_the_repositories_are_those_production_pulls_from() -> None:
    assert production_repositories(platform_values("prod")) == {
        "gateway": GATEWAY.repository,
        "litellm": LITELLM.repository,
    }


def test_a_malformed_file_is_refused() -> None:
    with pytest.raises(ValueError, match="`images:` mapping"):
        digests.parse("images: {}\n")
    with pytest.raises(ValueError, match=r"images\.gateway\.digest must be sha256"):
        digests.parse("images:\n  gateway: {repository: r, digest: latest}\n")


def test_writing_creates_the_folder(tmp_path: Path) -> None:
    path = digests.write([GATEWAY], "0123abc", tmp_path / "image-digests" / "prod.yaml")
    assert digests.parse(path.read_text()) == [GATEWAY]


def test_the_file_lives_where_the_workflow_commits_it() -> None:
    assert digests.DIGESTS_FILE == REPO_ROOT / "deploy" / "image-digests" / "prod.yaml"
