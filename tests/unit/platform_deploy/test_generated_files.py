"""Every file derived from deploy/ is what `invoke generate` would write now."""

from __future__ import annotations

from pathlib import Path

import pytest

from platform_deploy.__main__ import generate, generated_files
from platform_deploy.config.files import relative


def test_every_generated_file_is_up_to_date() -> None:
    stale = [
        relative(path)
        for path, text in generated_files().items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]
    assert stale == [], "run: invoke generate"


def test_the_check_fails_on_a_stale_file_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "derived.yaml"
    target.write_text("old\n", encoding="utf-8")
    monkeypatch.setattr("platform_deploy.__main__.generated_files", lambda: {target: "new\n"})
    assert generate(check=True) == 1
    assert target.read_text(encoding="utf-8") == "old\n"
    assert generate(check=False) == 0
    assert target.read_text(encoding="utf-8") == "new\n"
