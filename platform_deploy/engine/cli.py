"""Running the deploy engine's commands (plan, deploy, verify; parsed in __main__.py).

Every failure a person can act on (missing kubeconfig, unreachable cluster, wrong cluster,
a preflight stop, a failed Helm step) ends in one redacted line and a non-zero exit, never
a traceback: a traceback can carry a secret value from a local variable or a response.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from platform_deploy.engine.redaction import Redactor

# What each failure is called in its one-line message.
_KINDS = {
    "KubeconfigMissing": "missing kubeconfig",
    "ClusterUnreachable": "cluster unreachable",
    "IdentityError": "cluster identity",
    "DeployStop": "stopped",
    "NotConfirmed": "not confirmed",
    "HelmError": "helm",
    "VerifyError": "verify",
    "KindUnknown": "missing API",
    "ToolUnavailable": "helm",
}


def _confirm(environment: str) -> Any:
    def ask(prompt: str) -> bool:
        from platform_deploy.engine.engine import NotConfirmed

        if not sys.stdin.isatty():
            raise NotConfirmed("no terminal to confirm on: pass --yes to deploy without asking")
        return input(prompt).strip() == environment

    return ask


def _execute(
    args: argparse.Namespace, extra_values: dict[str, list[Path]], redactor: Redactor
) -> int:
    from platform_deploy.config.environments import load_environments
    from platform_deploy.config.inventory import load_inventory
    from platform_deploy.config.versions import load_versions
    from platform_deploy.engine.cluster import KubeCluster
    from platform_deploy.engine.engine import Engine
    from platform_deploy.helm.binary import locked_helm
    from platform_deploy.helm.client import Helm
    from platform_deploy.helm.releases import KubeTarget

    say = redactor.printer()
    target = KubeTarget(args.kubeconfig, args.context)
    cluster = KubeCluster(args.kubeconfig, args.context)
    helm = Helm(locked_helm, target=target)
    engine = Engine(
        environment=load_environments()[args.env],
        inventory=load_inventory(),
        versions=load_versions(),
        cluster=cluster,
        helm=helm,
        redactor=redactor,
        say=say,
        target=target,
        extra_values=extra_values,
    )
    if args.command == "verify":
        engine.guard()
        return engine.verify()
    if args.command == "plan" or args.plan:
        engine.plan()
        say("plan only: nothing was changed")
        return 0
    engine.deploy(_confirm(args.env), assume_yes=args.yes, verify=not args.no_verify)
    return 0


def run(args: argparse.Namespace, extra_values: dict[str, list[Path]]) -> int:
    redactor = Redactor()
    try:
        return _execute(args, extra_values, redactor)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        # One line, redacted, saying which kind of failure it was.
        kind = _KINDS.get(type(error).__name__, type(error).__name__)
        print(f"error: {kind}: {redactor.error_message(error)}", file=sys.stderr)
        return 1
