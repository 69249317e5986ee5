"""The deploy engine's command line: plan, deploy, verify.

Every failure a person can act on (missing kubeconfig, unreachable cluster, wrong cluster,
a preflight stop, a failed Helm step) ends in one redacted line and a non-zero exit, never
a traceback: a traceback can carry a secret value from a local variable or a response.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from platform_deploy.config.environments import ENVIRONMENT_NAMES
from platform_deploy.engine.redaction import Redactor

_HELP = {
    "env": "the environment in deploy/environments.yaml: ci (the pipeline's k3s) or prod",
    "kubeconfig": "the kubeconfig to use (default: $KUBECONFIG, then ~/.kube/config)",
    "context": "the kubeconfig context (default: its current context); the cluster is still "
    "checked by identity, never by this name",
    "yes": "do not ask for confirmation (environments with confirm: true ask otherwise)",
    "plan": "only show what would change (server-side dry runs and diffs); change nothing",
    "no-verify": "end after the policies, without the verification step (for a caller that "
    "runs `verify` itself, as the pipeline does)",
    "values": "a values file appended for one release, e.g. platform=deploy/image-digests/"
    "prod.yaml (production's image digests); repeatable",
}


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


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", required=True, choices=ENVIRONMENT_NAMES, help=_HELP["env"])
    parser.add_argument("--kubeconfig", type=Path, metavar="PATH", help=_HELP["kubeconfig"])
    parser.add_argument("--context", metavar="NAME", help=_HELP["context"])


def add_commands(commands: Any) -> None:
    deploy = commands.add_parser(
        "deploy",
        help="namespaces, secrets, releases, policies, verification, in order",
        description="Deploy an environment: preflight, namespaces, secrets, each release "
        "(Helm 4, waiting until ready or its timeout in environments.yaml), policies, then "
        "verification. Refuses a cluster that is not the environment's; a rerun changes "
        "nothing.",
    )
    _common(deploy)
    deploy.add_argument("--plan", action="store_true", help=_HELP["plan"])
    deploy.add_argument("--yes", action="store_true", help=_HELP["yes"])
    deploy.add_argument("--no-verify", action="store_true", help=_HELP["no-verify"])
    deploy.add_argument(
        "--values", action="append", default=[], metavar="RELEASE=FILE", help=_HELP["values"]
    )
    plan = commands.add_parser("plan", help="what deploy would change; changes nothing")
    _common(plan)
    plan.add_argument(
        "--values", action="append", default=[], metavar="RELEASE=FILE", help=_HELP["values"]
    )
    verify = commands.add_parser(
        "verify",
        help="rollouts, a completion, its Langfuse trace, an ERROR observation, policies",
        description="Verify a deployed environment and print a table of checks; exits "
        "non-zero if any fails.",
    )
    _common(verify)


def _extra(raw: list[str]) -> dict[str, list[Path]]:
    extra: dict[str, list[Path]] = {}
    for item in raw:
        release, _, path = item.partition("=")
        if not path:
            raise ValueError(f"--values takes RELEASE=FILE, got {item!r}")
        extra.setdefault(release, []).append(Path(path))
    return extra


def _confirm(environment: str) -> Any:
    def ask(prompt: str) -> bool:
        from platform_deploy.engine.engine import NotConfirmed

        if not sys.stdin.isatty():
            raise NotConfirmed("no terminal to confirm on: pass --yes to deploy without asking")
        return input(prompt).strip() == environment

    return ask


def _execute(args: argparse.Namespace, redactor: Redactor) -> int:
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
        extra_values=_extra(getattr(args, "values", [])),
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


def run(args: argparse.Namespace) -> int:
    redactor = Redactor()
    try:
        return _execute(args, redactor)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        # One line, redacted, saying which kind of failure it was.
        kind = _KINDS.get(type(error).__name__, type(error).__name__)
        print(f"error: {kind}: {redactor.error_message(error)}", file=sys.stderr)
        return 1
