"""Comparing a detect-secrets report with the audited baseline."""

from __future__ import annotations

import re
from typing import Any

import pytest

from platform_deploy.checks.secret_scan import EXCLUDE_LINES, unaudited


def _report(*items: tuple[str, str, str, int], audited: bool | None = None) -> dict[str, Any]:
    results: dict[str, list[dict[str, Any]]] = {}
    for path, kind, hashed, line in items:
        entry: dict[str, Any] = {"type": kind, "hashed_secret": hashed, "line_number": line}
        if audited is not None:
            entry["is_secret"] = not audited
        results.setdefault(path, []).append(entry)
    return {"results": results}


def test_audited_findings_pass_even_when_their_line_moves() -> None:
    baseline = _report(("a.py", "Secret Keyword", "h1", 3), audited=True)
    assert unaudited(_report(("a.py", "Secret Keyword", "h1", 30)), baseline) == []


def test_a_new_finding_or_one_audited_as_a_secret_fails() -> None:
    baseline = _report(("a.py", "Secret Keyword", "h1", 3), audited=False)
    report = _report(
        ("a.py", "Secret Keyword", "h1", 3), ("b.py", "Hex High Entropy String", "h2", 7)
    )
    assert unaudited(report, baseline) == [
        "a.py:3: Secret Keyword",
        "b.py:7: Hex High Entropy String",
    ]


@pytest.mark.parametrize(
    "line",
    [
        "existingSecret: redis-secrets",
        "  - secretKey: LITELLM_MASTER_KEY",
        "rootPasswordSecretKey: root-password",
        "        secretName: gateway-clients",
        "- secretKey: clients.json",
        'existingSecret: "langfuse-s3"',  # pragma: allowlist secret
    ],
)
def test_names_of_secrets_are_excluded(line: str) -> None:
    assert re.search(EXCLUDE_LINES, line)


@pytest.mark.parametrize(
    "line",
    [
        "password: hunter2hunter2",
        "secretKey: " + "5f4dcc3b5aa765d6" * 4,  # pragma: allowlist secret
        "existingSecret: dGhpcyBpcyBub3QgYSBuYW1lIGF0IGFsbA==",
        "api_key: sk-ant-api03-abcdefghijklmnop",
    ],
)
def test_values_that_could_be_secrets_are_still_scanned(line: str) -> None:
    assert not re.search(EXCLUDE_LINES, line)
