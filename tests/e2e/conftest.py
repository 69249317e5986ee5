"""The container tier (`invoke e2e`): what needs a container engine.

Without one, every test here skips, saying why. With one, the images are built once a
session (on the official base, or its stand-in where no registry answers) and each stage's
time is printed at the end. Progress lines go straight to the terminal: builds take minutes.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e import images, stand_ins
from tests.e2e.docker_cli import unavailable_reason

REPO_ROOT = Path(__file__).resolve().parents[2]
OUT = REPO_ROOT / "out" / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    e2e = [item for item in items if item.get_closest_marker("e2e")]
    reason = unavailable_reason() if e2e else None
    if reason is not None:
        for item in e2e:
            item.add_marker(pytest.mark.skip(reason=reason))


@dataclass
class Stages:
    """Each stage's time, printed as a table when the session ends."""

    say: Callable[[str], None]
    rows: list[tuple[str, float, str]] = field(default_factory=list)

    @contextmanager
    def timed(self, name: str) -> Iterator[list[str]]:
        """Time a stage; append to the yielded list to add a detail to its row."""
        self.say(f"{name} ...")
        detail: list[str] = []
        began = time.monotonic()
        try:
            yield detail
        finally:
            took = time.monotonic() - began
            self.rows.append((name, took, "; ".join(detail)))
            self.say(f"{name}: {took:.1f} s{': ' + '; '.join(detail) if detail else ''}")

    def table(self) -> list[str]:
        width = max(len(name) for name, _, _ in self.rows)
        lines = [f"{'stage':<{width}}  {'seconds':>8}  detail"]
        for name, took, detail in self.rows:
            lines.append(f"{name:<{width}}  {took:>8.1f}  {detail}".rstrip())
        total = sum(took for _, took, _ in self.rows)
        lines.append(f"{'total (stages)':<{width}}  {total:>8.1f}")
        return lines


_STAGES: list[Stages] = []


@pytest.fixture(scope="session")
def say(pytestconfig: pytest.Config) -> Callable[[str], None]:
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")

    def write(line: str) -> None:
        if reporter is not None:
            reporter.write_line(f"[e2e] {line}")

    return write


@pytest.fixture(scope="session")
def stages(say: Callable[[str], None]) -> Stages:
    recorder = Stages(say)
    _STAGES.append(recorder)
    return recorder


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for recorder in _STAGES:
        if recorder.rows:
            terminalreporter.section("container tier: time of each stage")
            for line in recorder.table():
                terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def run_dir() -> Path:
    """out/e2e/<run>/: what a run keeps (container logs); never a secret value."""
    path = OUT / (time.strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3))
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class BuiltImages:
    python_base: stand_ins.BaseImage
    host_only_cas: list[str]
    builds: dict[str, images.ImageBuild]
    sizes_mb: dict[str, float]


@pytest.fixture(scope="session")
def built_images(stages: Stages, say: Callable[[str], None]) -> BuiltImages:
    """Every image, built once a session from a clean context (a fresh clone's files)."""
    with stages.timed("python base image") as detail:
        base = stand_ins.python_base(say)
        detail.append(base.reference + (f" (STAND-IN: {base.why})" if base.stand_in else ""))
    with stages.timed("host-only CAs") as detail:
        cas = images.host_only_certificates(base.reference)
        detail.append(f"{len(cas)} trusted by this host and not by the base, given to builds")
    builds, sizes = {}, {}
    with tempfile.TemporaryDirectory(prefix="e2e-context-") as scratch:
        with stages.timed("clean build context") as detail:
            context = images.clean_context(Path(scratch))
            detail.append(f"{sum(1 for p in context.rglob('*') if p.is_file())} files")
        for build in images.image_builds():
            with stages.timed(f"build {build.name}") as detail:
                images.build(build, context, base.reference, cas)
                sizes[build.name] = images.image_size_mb(build.tag)
                detail.append(f"{build.tag}, {sizes[build.name]:.0f} MB")
            builds[build.name] = build
    return BuiltImages(base, cas, builds, sizes)
