"""Collect what explains a failed deploy or verify into one folder; runs in the tools container.

    python -m pipeline.collect_diagnostics --out /diagnostics [--k3s-log PATH]
        [--no-cluster REASON]

Every command runs even when others fail, and each failure is written down rather than
raised: a cluster half up is exactly when this runs. KUBECONFIG names the cluster. With
--no-cluster (k3s did not start, or has stopped) only k3s's server log is read, and the
index says why the cluster was not asked.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.cluster_commands import (
    CLUSTER_DIAGNOSTICS,
    PODS_JSON,
    RELEASES_JSON,
    Diagnostic,
    helm_status_diagnostics,
    pod_log_diagnostics,
)

COMMAND_TIMEOUT_S = 60
K3S_LOG_TAIL_LINES = 3000


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


Runner = Callable[[Sequence[str]], Ran]


def run_command(argv: Sequence[str]) -> Ran:
    try:
        result = subprocess.run(  # noqa: S603  (fixed command lines from cluster_commands)
            list(argv), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        return Ran(124, "", f"no answer within {COMMAND_TIMEOUT_S} s")
    except OSError as error:
        return Ran(127, "", str(error))
    return Ran(result.returncode, result.stdout, result.stderr)


def _listing(run: Runner, argv: Sequence[str]) -> Any:
    result = run(argv)
    if result.returncode != 0:
        return None
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        return None


def collect(
    out: Path, run: Runner, k3s_log: Path | None, no_cluster: str | None = None
) -> list[str]:
    """Write every diagnostic under `out`; return the index lines (file, exit status).
    `no_cluster` is why the cluster is not to be asked, when it is not."""
    index = []
    diagnostics: list[Diagnostic] = []
    if no_cluster is not None:
        index.append(f"cluster\tnot queried: {no_cluster}")
    else:
        diagnostics.extend(CLUSTER_DIAGNOSTICS)
        pods = _listing(run, PODS_JSON)
        if isinstance(pods, dict):
            diagnostics.extend(pod_log_diagnostics(pods))
        releases = _listing(run, RELEASES_JSON)
        if isinstance(releases, list):
            diagnostics.extend(helm_status_diagnostics(releases))
    for diagnostic in diagnostics:
        result = run(diagnostic.argv)
        target = out / diagnostic.file
        target.parent.mkdir(parents=True, exist_ok=True)
        text = result.stdout
        if result.returncode != 0:
            text += f"\n--- exit status {result.returncode}; stderr:\n{result.stderr}"
        target.write_text(text, encoding="utf-8")
        index.append(f"{diagnostic.file}\texit {result.returncode}\t{' '.join(diagnostic.argv)}")
    if k3s_log is not None:
        if k3s_log.is_file():
            lines = k3s_log.read_text(encoding="utf-8", errors="replace").splitlines()
            tail = lines[-K3S_LOG_TAIL_LINES:]
            (out / "k3s-server.log").write_text("\n".join(tail) + "\n", encoding="utf-8")
            index.append(f"k3s-server.log\tlast {len(tail)} lines of {k3s_log}")
        else:
            index.append(f"k3s-server.log\tmissing: k3s wrote no {k3s_log}")
    (out / "index.txt").write_text("\n".join(index) + "\n", encoding="utf-8")
    return index


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.collect_diagnostics")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--k3s-log", type=Path, default=None)
    parser.add_argument(
        "--no-cluster",
        metavar="REASON",
        default=None,
        help="k3s did not start or has stopped (why): only its server log is read",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    index = collect(args.out, run_command, args.k3s_log, no_cluster=args.no_cluster)
    print(f"collected {len(index)} diagnostics into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
