"""Whether the Dagger CLI is here: the SDK's own order of places, its real downloader failing
within seconds, and `python -m pipeline --preflight` answering in one sentence."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import dagger
import pytest
from dagger._engine._version import CLI_VERSION
from dagger.provisioning._download import Downloader

from pipeline import dagger_cli
from pipeline.dagger_cli import CliFound, CliMissing, find_cli
from pipeline.engine_check import cannot_run_message

REPO_ROOT = Path(__file__).resolve().parents[3]
VERSION_LINE = (
    f"dagger v{CLI_VERSION} (image://registry.dagger.io/engine:v{CLI_VERSION}) linux/amd64"
)


def which_only(found: dict[str, str]) -> Callable[[str], str | None]:
    return found.get


def never_downloads() -> str:
    raise AssertionError("downloaded although the CLI was found")


def failing_download(message: str) -> Callable[[], str]:
    def download() -> str:
        raise dagger.DownloadError(message)

    return download


def test_inside_dagger_run_no_cli_is_needed(tmp_path: Path) -> None:
    env = {"DAGGER_SESSION_PORT": "41234", "DAGGER_SESSION_TOKEN": "t"}
    found = find_cli(env, which_only({}), lambda p: None, tmp_path / "none", never_downloads)
    assert found == CliFound(None, "not needed inside `dagger run` (its session is used)")


def test_the_variable_the_sdk_reads_first_must_name_an_executable(tmp_path: Path) -> None:
    cli = tmp_path / "dagger"
    cli.write_text("#!/bin/sh\n")
    env = {"_EXPERIMENTAL_DAGGER_CLI_BIN": str(cli)}
    missing = find_cli(env, which_only({}), lambda p: None, tmp_path / "none", never_downloads)
    assert missing == CliMissing(
        f"no Dagger CLI: _EXPERIMENTAL_DAGGER_CLI_BIN names {cli}, not an executable file"
    )
    cli.chmod(0o755)
    found = find_cli(env, which_only({}), lambda p: None, tmp_path / "none", never_downloads)
    assert found == CliFound(str(cli), f"{cli} (_EXPERIMENTAL_DAGGER_CLI_BIN)")


def test_the_sdks_cache_comes_before_path(tmp_path: Path) -> None:
    cached = tmp_path / f"dagger-{CLI_VERSION}"
    cached.write_text("")
    found = find_cli(
        {}, which_only({"dagger": "/usr/bin/dagger"}), lambda p: None, cached, never_downloads
    )
    assert found == CliFound(str(cached), f"in the SDK's cache ({cached})")


def test_a_dagger_on_path_at_the_sdks_version_is_used(tmp_path: Path) -> None:
    found = find_cli(
        {},
        which_only({"dagger": "/usr/local/bin/dagger"}),
        lambda path: CLI_VERSION,
        tmp_path / "none",
        never_downloads,
    )
    assert found == CliFound("/usr/local/bin/dagger", "on PATH (/usr/local/bin/dagger)")
    env: dict[str, str] = {}
    dagger_cli.hand_to_sdk(found, env)
    assert env == {"_EXPERIMENTAL_DAGGER_CLI_BIN": "/usr/local/bin/dagger"}


def test_another_version_on_path_is_not_used_and_the_sdk_downloads(tmp_path: Path) -> None:
    found = find_cli(
        {},
        which_only({"dagger": "/usr/local/bin/dagger"}),
        lambda path: "0.19.2",
        tmp_path / "none",
        lambda: str(tmp_path / "downloaded"),
    )
    assert found == CliFound(
        str(tmp_path / "downloaded"),
        f"downloaded by the SDK into its cache ({tmp_path / 'downloaded'})",
    )
    missing = find_cli(
        {},
        which_only({"dagger": "/usr/local/bin/dagger"}),
        lambda path: "0.19.2",
        tmp_path / "none",
        failing_download("Failed to download checksums from https://dl.dagger.io/x: timed out"),
    )
    assert missing == CliMissing(
        f"no Dagger CLI: `dagger` on PATH (/usr/local/bin/dagger) is 0.19.2, not {CLI_VERSION}, "
        f"the SDK's cache has no CLI {CLI_VERSION}, and the SDK's download of CLI {CLI_VERSION} "
        "failed: Failed to download checksums from https://dl.dagger.io/x: timed out"
    )


def test_nothing_here_and_no_download_is_one_clause_with_the_first_line_of_the_error(
    tmp_path: Path,
) -> None:
    missing = find_cli(
        {},
        which_only({}),
        lambda path: None,
        tmp_path / "none",
        failing_download(
            "Failed to download checksums: [Errno -2] Name or service not known\nmore"
        ),
    )
    assert missing == CliMissing(
        f"no Dagger CLI: `dagger` is not on PATH, the SDK's cache has no CLI {CLI_VERSION}, "
        f"and the SDK's download of CLI {CLI_VERSION} failed: "
        "Failed to download checksums: [Errno -2] Name or service not known"
    )


def test_any_failure_of_the_download_is_one_clause(tmp_path: Path) -> None:
    def broken_archive() -> str:
        raise tarfile.ReadError("unexpected end of data")

    missing = find_cli({}, which_only({}), lambda p: None, tmp_path / "none", broken_archive)
    assert isinstance(missing, CliMissing)
    assert missing.problem.endswith("failed: unexpected end of data")


def test_the_version_comes_from_dagger_version(tmp_path: Path) -> None:
    cli = tmp_path / "dagger"
    cli.write_text(f'#!/bin/sh\n[ "$1" = version ] && echo "{VERSION_LINE}"\n')
    cli.chmod(0o755)
    assert dagger_cli.cli_version(str(cli)) == CLI_VERSION
    cli.write_text("#!/bin/sh\necho 'Error: unknown command' >&2; exit 1\n")
    assert dagger_cli.cli_version(str(cli)) is None
    assert dagger_cli.cli_version(str(tmp_path / "missing")) is None


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_the_sdks_own_download_failing_is_caught_and_worded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK's real downloader, pointed at a port nothing listens on (here dl.dagger.io
    cannot be reached either; elsewhere it could, so it is not asked)."""
    port = closed_port()

    class Unreachable(Downloader):
        CLI_BASE_URL = f"http://127.0.0.1:{port}"

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    started = time.monotonic()
    with pytest.raises(dagger.DownloadError) as raised:
        dagger_cli.download_with_timeout(Unreachable(), timeout_s=20)
    assert time.monotonic() - started < 10
    missing = find_cli(
        {},
        which_only({}),
        lambda path: None,
        dagger_cli.sdk_cache_path(Unreachable()),
        lambda: dagger_cli.download_with_timeout(Unreachable(), timeout_s=20),
    )
    assert isinstance(missing, CliMissing)
    assert missing.problem.startswith(
        f"no Dagger CLI: `dagger` is not on PATH, the SDK's cache has no CLI {CLI_VERSION}, and "
        f"the SDK's download of CLI {CLI_VERSION} failed: Failed to download checksums from "
        f"http://127.0.0.1:{port}/dagger/releases/{CLI_VERSION}/checksums.txt: "
    )
    assert "\n" not in missing.problem
    assert str(raised.value).startswith("Failed to download the Dagger CLI: ")
    assert dagger_cli.sdk_cache_path(Unreachable()) == tmp_path / "dagger" / f"dagger-{CLI_VERSION}"


def test_a_download_that_does_not_finish_in_time_is_a_problem_on_time() -> None:
    class Slow(Downloader):
        def get_sync(self) -> str:
            time.sleep(5)
            return "/never"

    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"it did not finish within 0\.3 s"):
        dagger_cli.download_with_timeout(Slow(), timeout_s=0.3)
    assert time.monotonic() - started < 2


def fake_cli(directory: Path, name: str, script: str) -> None:
    path = directory / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def preflight(
    path: Path, cache: Path, **extra: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DAGGER_", "_EXPERIMENTAL_DAGGER", "DOCKER_"))
    }
    env.update(PATH=f"{path}:/usr/bin:/bin", XDG_CACHE_HOME=str(cache), **extra)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "--preflight"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result, time.monotonic() - started


def test_preflight_without_an_engine_says_so_before_asking_for_the_cli(tmp_path: Path) -> None:
    fake_cli(tmp_path, "docker", 'echo "Cannot connect to the Docker daemon." >&2; exit 1')
    result, seconds = preflight(tmp_path, tmp_path / "cache")
    assert result.returncode == 2
    assert seconds < 10
    assert result.stderr.startswith("No container engine is reachable (docker info: Cannot connect")
    assert not (tmp_path / "cache" / "dagger").exists()  # no download was tried


def test_preflight_with_an_engine_and_no_cli_is_one_sentence_and_exit_2(tmp_path: Path) -> None:
    fake_cli(tmp_path, "docker", "exit 0")
    result, seconds = preflight(
        tmp_path, tmp_path / "cache", _EXPERIMENTAL_DAGGER_CLI_BIN=str(tmp_path / "no-such-cli")
    )
    assert result.returncode == 2
    assert seconds < 10
    assert result.stdout == ""
    missing = tmp_path / "no-such-cli"
    problem = f"no Dagger CLI: _EXPERIMENTAL_DAGGER_CLI_BIN names {missing}, not an executable file"
    assert result.stderr.strip() == cannot_run_message(problem)
    assert "Traceback" not in result.stderr


def test_preflight_with_an_engine_and_dagger_on_path_passes(tmp_path: Path) -> None:
    fake_cli(tmp_path, "docker", "exit 0")
    fake_cli(tmp_path, "dagger", f'echo "{VERSION_LINE}"')
    result, seconds = preflight(tmp_path, tmp_path / "cache")
    assert result.returncode == 0, result.stderr
    assert seconds < 10
    assert result.stdout.strip() == (
        f"A container engine answers and the Dagger CLI is on PATH ({tmp_path / 'dagger'})."
    )
