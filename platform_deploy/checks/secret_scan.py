"""detect-secrets over the repository's tracked files, against an audited baseline.

Every finding must be in .secrets.baseline and audited there as not a secret
(`"is_secret": false`): test fixtures' fake keys, trace ids, LiteLLM's `os.environ/NAME`
references. Anything else fails. Findings match on file, type and hashed value, not on line
numbers, so edits elsewhere in a file do not invalidate the audit. Nothing is written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

from platform_deploy.config.files import REPO_ROOT

BASELINE = REPO_ROOT / ".secrets.baseline"
# locks/: sha256 hashes of public artifacts; the baseline: hashes of audited findings.
EXCLUDE_FILES = r"^(locks/|\.secrets\.baseline$)"
# A field that names a Secret or one of its keys, with a name as its value (a Kubernetes
# name up to 63 characters, or an environment variable's): `existingSecret: redis-secrets`,
# `secretKey: LITELLM_MASTER_KEY`. Names of secrets are not secrets; a value too long or too
# mixed to be a name (a 64-character hex key, base64) is still scanned. (detect-secrets
# hands YAML lines to this filter re-serialised, with the value in quotes.)
EXCLUDE_LINES = (
    r"^\s*-?\s*(secretKey|secretName|secretStore|existingSecret|\w*(Password|Secret)Key):\s*"
    r"([\"']?)([a-z][a-z0-9-]{0,62}(\.json)?|[A-Z][A-Z0-9_]{0,62})\3\s*$"
)

Finding = tuple[str, str, str]  # file, type, hashed secret


def findings(report: Mapping[str, Any]) -> dict[Finding, int]:
    """Each finding with its line number."""
    return {
        (path, item["type"], item["hashed_secret"]): int(item["line_number"])
        for path, items in report["results"].items()
        for item in items
    }


def unaudited(report: Mapping[str, Any], baseline: Mapping[str, Any]) -> list[str]:
    audited = {
        finding
        for finding, _ in findings(baseline).items()
        if all(
            item.get("is_secret") is False
            for item in baseline["results"][finding[0]]
            if item["hashed_secret"] == finding[2] and item["type"] == finding[1]
        )
    }
    return [
        f"{path}:{line}: {kind}"
        for (path, kind, hashed), line in sorted(findings(report).items())
        if (path, kind, hashed) not in audited
    ]


def scan() -> dict[str, Any]:
    # detect-secrets from this environment (the detect_secrets session's), our own arguments.
    result = subprocess.run(  # noqa: S603
        [  # noqa: S607
            "detect-secrets",
            "scan",
            "--exclude-files",
            EXCLUDE_FILES,
            "--exclude-lines",
            EXCLUDE_LINES,
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
    )
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def main() -> None:
    baseline = json.loads(BASELINE.read_text(encoding="utf-8"))
    problems = unaudited(scan(), baseline)
    for problem in problems:
        print(problem)
    if problems:
        sys.exit(
            f"detect-secrets: {len(problems)} finding(s) not audited in {BASELINE.name}. "
            "Remove the secret, or if it is not one, add `# pragma: allowlist secret` or "
            "audit it (detect-secrets audit .secrets.baseline)."
        )
    print(f"detect-secrets: nothing found beyond the audited {BASELINE.name}")


if __name__ == "__main__":
    main()
