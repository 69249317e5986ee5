"""Whether the Dagger CLI is available here: answered within seconds, without an engine.

Outside `dagger run`, `python -m pipeline` (a Dagger SDK client) starts its engine session
through the Dagger CLI, which the SDK takes from `_EXPERIMENTAL_DAGGER_CLI_BIN`, else from
its own cache (`<user cache>/dagger/dagger-<version>`), else downloads from dl.dagger.io
with its own downloader (dagger/provisioning/_engine.py, _download.py). It never looks at
PATH, so a `dagger` on PATH at the SDK's version is handed to it through that variable.

The check asks the same places in the same order and, when none has the CLI, runs the SDK's
own download with a time limit: what it says is what the pipeline's connection would meet.
tests/e2e imports `dagger_cli_problem` to skip the pipeline test with this reason.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from dagger._engine._version import CLI_VERSION
from dagger.provisioning._download import Downloader

CLI_BIN_ENV = "_EXPERIMENTAL_DAGGER_CLI_BIN"
SESSION_ENV = "DAGGER_SESSION_PORT"  # set by `dagger run` for its child
# A dead network fails within httpx's own 5 s timeouts; this bounds a slow download.
DOWNLOAD_TIMEOUT_S = 60.0
VERSION_TIMEOUT_S = 5.0
_VERSION = re.compile(r"^dagger v?(\d+\.\d+\.\d+\S*)")


@dataclass(frozen=True)
class CliFound:
    path: str | None  # the CLI the SDK will run; None inside `dagger run`
    where: str  # a clause, for the preflight's answer


@dataclass(frozen=True)
class CliMissing:
    problem: str  # "no Dagger CLI: ...", a clause without a final stop


def first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else ""


def find_cli(
    env: Mapping[str, str],
    which: Callable[[str], str | None],
    version_of: Callable[[str], str | None],
    cached: Path,
    download: Callable[[], str],
    version: str = CLI_VERSION,
) -> CliFound | CliMissing:
    """Where the SDK gets its CLI from, or why it cannot: the SDK's own order."""
    if env.get(SESSION_ENV):
        return CliFound(None, "not needed inside `dagger run` (its session is used)")
    chosen = env.get(CLI_BIN_ENV)
    if chosen:
        if os.path.isfile(chosen) and os.access(chosen, os.X_OK):
            return CliFound(chosen, f"{chosen} ({CLI_BIN_ENV})")
        return CliMissing(f"no Dagger CLI: {CLI_BIN_ENV} names {chosen}, not an executable file")
    if cached.is_file():
        return CliFound(str(cached), f"in the SDK's cache ({cached})")
    on_path = which("dagger")
    if on_path is None:
        path_note = "`dagger` is not on PATH"
    else:
        found = version_of(on_path)
        if found == version:
            return CliFound(on_path, f"on PATH ({on_path})")
        path_note = (
            f"`dagger` on PATH ({on_path}) is {found or 'of an unknown version'}, not {version}"
        )
    try:
        downloaded = download()
    except Exception as error:  # whatever stops the download, the answer is one clause
        # DownloadError's own str() repeats "Failed to download the Dagger CLI"; its argument
        # is the cause.
        said = first_line(str(error.args[0]) if error.args else "") or type(error).__name__
        return CliMissing(
            f"no Dagger CLI: {path_note}, the SDK's cache has no CLI {version}, "
            f"and the SDK's download of CLI {version} failed: {said}"
        )
    return CliFound(downloaded, f"downloaded by the SDK into its cache ({downloaded})")


def cli_version(path: str) -> str | None:
    """`dagger version` prints the client's version without reaching an engine."""
    try:
        result = subprocess.run(  # noqa: S603  (a dagger found on PATH, fixed arguments)
            [path, "version"],
            capture_output=True,
            text=True,
            timeout=VERSION_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION.match(result.stdout.strip())
    return match.group(1) if result.returncode == 0 and match else None


def sdk_cache_path(downloader: Downloader | None = None) -> Path:
    """Where the SDK keeps (and looks for) its CLI."""
    sdk = downloader or Downloader()
    return sdk.cache_dir / f"{sdk.CLI_BIN_PREFIX}{sdk.version}"


def download_with_timeout(
    downloader: Downloader | None = None, timeout_s: float = DOWNLOAD_TIMEOUT_S
) -> str:
    """The SDK's own download into its cache, given `timeout_s` to finish.

    The SDK downloads synchronously; it runs in a daemon thread so the answer comes on time.
    A download still running then dies with the process (the SDK's temporary file may stay
    in its cache folder; the next download starts afresh).
    """
    sdk = downloader or Downloader()
    outcome: list[str | BaseException] = []

    def work() -> None:
        try:
            outcome.append(sdk.get_sync())
        except BaseException as error:  # handed to the caller's thread
            outcome.append(error)

    thread = threading.Thread(target=work, name="dagger-cli-download", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if not outcome:
        raise TimeoutError(f"it did not finish within {timeout_s:g} s")
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


def find_cli_here() -> CliFound | CliMissing:
    try:
        cached = sdk_cache_path()
    except OSError:  # no cache folder can be made: the download below will say why
        cached = Path("/nonexistent/dagger-cli")
    return find_cli(os.environ, shutil.which, cli_version, cached, download_with_timeout)


def dagger_cli_problem() -> str | None:
    """None when the pipeline's SDK has a Dagger CLI to run here, else why not (a clause)."""
    found = find_cli_here()
    return found.problem if isinstance(found, CliMissing) else None


def hand_to_sdk(found: CliFound, env: MutableMapping[str, str] = os.environ) -> None:
    """A CLI from PATH reaches the SDK only through _EXPERIMENTAL_DAGGER_CLI_BIN."""
    if found.path is not None and not env.get(CLI_BIN_ENV):
        env[CLI_BIN_ENV] = found.path
