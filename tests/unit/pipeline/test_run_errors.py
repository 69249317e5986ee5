"""How a failed stage and a failed connection are worded: one line each, no traceback."""

from __future__ import annotations

import dagger
import gql
import pytest
from dagger._exceptions import QueryErrorValue

from pipeline.engine_check import cannot_run_message
from pipeline.report import connection_problem, describe_error, first_error


def exec_error(command: list[str], exit_code: int, stdout: str, stderr: str) -> dagger.ExecError:
    """An ExecError as the engine reports one (the SDK builds it from the GraphQL error)."""
    value = QueryErrorValue(
        f"process {command!r} did not complete successfully: exit code: {exit_code}",
        extensions={
            "_type": "EXEC_ERROR",
            "cmd": command,
            "exitCode": exit_code,
            "stdout": stdout,
            "stderr": stderr,
        },
    )
    error = dagger.QueryError([value], gql.GraphQLRequest(gql.gql("{ container { id } }")))
    assert isinstance(error, dagger.ExecError)
    return error


def test_a_failed_command_is_named_with_its_last_words() -> None:
    error = exec_error(
        ["python", "-m", "platform_deploy", "verify", "--env", "ci"],
        1,
        "checking pods\n",
        "pods ready\nFAIL: no trace in Langfuse after 60 s\n\n",
    )
    assert describe_error(error) == (
        "`python -m platform_deploy verify --env ci` exited with 1: "
        "FAIL: no trace in Langfuse after 60 s"
    )


def test_a_long_script_is_shortened() -> None:
    error = exec_error(["sh", "-c", "x" * 200], 1, "", "no Ready node within 300 s\n")
    described = describe_error(error)
    assert described.startswith("`sh -c ")
    assert described.endswith("…` exited with 1: no Ready node within 300 s")
    assert len(described) < 150


def test_errors_from_task_groups_are_unwrapped() -> None:
    inner = RuntimeError("gateway image did not build\nstep 3/7 failed")
    group = ExceptionGroup("unhandled errors in a TaskGroup", [inner, ValueError("later")])
    assert first_error(group) is inner
    assert describe_error(group) == "RuntimeError: gateway image did not build"


@pytest.mark.parametrize(
    ("error", "clause"),
    [
        (
            dagger.DownloadError(
                "Failed to download checksums: [Errno -2] Name or service not known"
            ),
            "the Dagger CLI 0.21.11 is not installed and could not be downloaded: "
            "Failed to download checksums: [Errno -2] Name or service not known",
        ),
        (
            dagger.SessionError(FileNotFoundError(2, "No such file or directory")),
            "the Dagger engine session did not start: [Errno 2] No such file or directory",
        ),
        (
            dagger.ClientConnectionError("connection refused"),
            "the Dagger engine did not answer: connection refused",
        ),
    ],
    ids=["download", "session", "connection"],
)
def test_connection_errors_become_one_sentence(error: dagger.DaggerError, clause: str) -> None:
    assert connection_problem(error) == clause
    message = cannot_run_message(connection_problem(error))
    assert message == (
        f"The pipeline cannot run here ({clause}); `invoke test` runs every check that needs none,"
        " and `invoke e2e` the container tier."
    )
    assert "\n" not in message
