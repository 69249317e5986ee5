"""python -m platform_deploy: the deployment's one command line.

    render    an environment's manifests into a folder, for the analysers (checks/)
    plan      what deploy would change; changes nothing        (engine/engine.py)
    deploy    preflight, namespaces, secrets, releases, policies, verification
    verify    a deployed environment's checks, as a table      (engine/verify.py)
    generate  the files derived from deploy/ (ExternalSecrets, the policy README's table)

Secret values are never written or printed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from platform_deploy.config.environments import ENVIRONMENT_NAMES, load_environments
from platform_deploy.config.files import dump_manifests, relative

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


def release_values(item: str) -> tuple[str, Path]:
    """One --values argument, RELEASE=FILE (the only parser of it)."""
    release, _, path = item.partition("=")
    if not release or not path:
        raise argparse.ArgumentTypeError(f"takes RELEASE=FILE, got {item!r}")
    return release, Path(path)


def by_release(pairs: Iterable[tuple[str, Path]]) -> dict[str, list[Path]]:
    extra: dict[str, list[Path]] = {}
    for release, path in pairs:
        extra.setdefault(release, []).append(path)
    return extra


def _values_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--values",
        action="append",
        default=[],
        type=release_values,
        metavar="RELEASE=FILE",
        help=_HELP["values"],
    )


def _cluster_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", required=True, choices=ENVIRONMENT_NAMES, help=_HELP["env"])
    parser.add_argument("--kubeconfig", type=Path, metavar="PATH", help=_HELP["kubeconfig"])
    parser.add_argument("--context", metavar="NAME", help=_HELP["context"])


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m platform_deploy", description=__doc__)
    root.formatter_class = argparse.RawDescriptionHelpFormatter
    commands = root.add_subparsers(dest="command", required=True)
    render = commands.add_parser("render", help="render manifests for the analysers")
    render.add_argument("--env", action="append", choices=ENVIRONMENT_NAMES)
    render.add_argument("--out", type=Path, required=True)
    _values_option(render)
    plan = commands.add_parser("plan", help="what deploy would change; changes nothing")
    _cluster_options(plan)
    _values_option(plan)
    deploy = commands.add_parser(
        "deploy",
        help="namespaces, secrets, releases, policies, verification, in order",
        description="Deploy an environment: preflight, namespaces, secrets, each release "
        "(Helm 4, waiting until ready or its timeout in environments.yaml), policies, then "
        "verification. Refuses a cluster that is not the environment's; a rerun changes "
        "nothing.",
    )
    _cluster_options(deploy)
    deploy.add_argument("--plan", action="store_true", help=_HELP["plan"])
    deploy.add_argument("--yes", action="store_true", help=_HELP["yes"])
    deploy.add_argument("--no-verify", action="store_true", help=_HELP["no-verify"])
    _values_option(deploy)
    verify = commands.add_parser(
        "verify",
        help="rollouts, a completion, its Langfuse trace, an ERROR observation, policies",
        description="Verify a deployed environment and print a table of checks; exits "
        "non-zero if any fails.",
    )
    _cluster_options(verify)
    generate = commands.add_parser(
        "generate", help="rewrite the files derived from deploy/ (or --check them)"
    )
    generate.add_argument("--check", action="store_true", help="fail if a file is out of date")
    return root


def render(args: argparse.Namespace) -> int:
    from platform_deploy.checks.langfuse_chart import obtain_chart
    from platform_deploy.config.inventory import load_inventory
    from platform_deploy.config.versions import load_versions
    from platform_deploy.helm.binary import ToolUnavailable, locked_helm
    from platform_deploy.helm.client import Helm
    from platform_deploy.rendering import render_environment

    versions = load_versions()
    try:
        helm = Helm(locked_helm())
    except ToolUnavailable as error:
        print(f"error: helm: {error}", file=sys.stderr)
        return 1
    inventory = load_inventory()
    environments = load_environments()
    extra = by_release(args.values)
    with tempfile.TemporaryDirectory(prefix="langfuse-chart-") as cache:
        chart = obtain_chart(helm, versions.chart("langfuse"), Path(cache))
        for name in args.env or ENVIRONMENT_NAMES:
            rendered = render_environment(
                helm, environments[name], inventory, versions.kubernetes, extra, chart
            )
            out = args.out / name
            out.mkdir(parents=True, exist_ok=True)
            (out / "project.yaml").write_text(dump_manifests(rendered.project()), encoding="utf-8")
            if rendered.langfuse is not None:
                (out / "langfuse.yaml").write_text(
                    dump_manifests(rendered.langfuse), encoding="utf-8"
                )
                print(f"{name}: rendered this repository's releases and the Langfuse chart")
            else:
                print(f"{name}: Langfuse chart skipped: {rendered.langfuse_unavailable}")
            print(f"{name}: wrote {relative(out)}")
    return 0


def generated_files() -> dict[Path, str]:
    """Every file derived from deploy/: path -> the text it must hold."""
    from platform_deploy.checks import allowed_paths
    from platform_deploy.config import external_secrets
    from platform_deploy.config.inventory import load_inventory

    return {
        **external_secrets.generated_files(load_inventory()),
        **allowed_paths.generated_files(),
    }


def generate(check: bool) -> int:
    files = generated_files()
    stale = [p for p, text in files.items() if not p.is_file() or p.read_text("utf-8") != text]
    if check:
        if stale:
            names = ", ".join(relative(path) for path in stale)
            print(f"out of date (run `invoke generate`): {names}", file=sys.stderr)
            return 1
        return 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[path], encoding="utf-8")
        print(f"wrote {relative(path)}")
    if not stale:
        print(f"{len(files)} generated files already up to date")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "render":
        return render(args)
    if args.command == "generate":
        return generate(args.check)
    from platform_deploy.engine import cli

    return cli.run(args, by_release(getattr(args, "values", [])))


if __name__ == "__main__":
    sys.exit(main())
