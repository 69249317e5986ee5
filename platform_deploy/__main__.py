"""python -m platform_deploy: render an environment's manifests (for analysers), and the deploy
engine's commands: plan, deploy, verify. Secret values are never written or printed."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from platform_deploy.checks.langfuse_chart import obtain_chart
from platform_deploy.config.environments import ENVIRONMENT_NAMES, load_environments
from platform_deploy.config.files import dump_manifests, relative
from platform_deploy.config.inventory import load_inventory
from platform_deploy.config.versions import load_versions
from platform_deploy.helm.binary import ToolUnavailable, locked_helm
from platform_deploy.helm.client import Helm
from platform_deploy.rendering import render_environment


def _extra_values(raw: list[str]) -> dict[str, list[Path]]:
    extra: dict[str, list[Path]] = {}
    for item in raw:
        release, _, path = item.partition("=")
        if not path:
            sys.exit(f"--values takes RELEASE=FILE, got {item!r}")
        extra.setdefault(release, []).append(Path(path))
    return extra


def render(args: argparse.Namespace) -> None:
    versions = load_versions()
    try:
        helm = Helm(locked_helm())
    except ToolUnavailable as error:
        sys.exit(f"error: helm: {error}")
    inventory = load_inventory()
    environments = load_environments()
    extra = _extra_values(args.values)
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


def main() -> None:
    from platform_deploy.engine import cli as deploy_cli

    parser = argparse.ArgumentParser(prog="python -m platform_deploy")
    commands = parser.add_subparsers(dest="command", required=True)
    deploy_cli.add_commands(commands)
    render_parser = commands.add_parser("render", help=render.__doc__ or "render manifests")
    render_parser.add_argument("--env", action="append", choices=ENVIRONMENT_NAMES)
    render_parser.add_argument("--out", type=Path, required=True)
    render_parser.add_argument(
        "--values",
        action="append",
        default=[],
        metavar="RELEASE=FILE",
        help="a values file appended for one release (production's image digests)",
    )
    args = parser.parse_args()
    if args.command == "render":
        render(args)
    else:
        sys.exit(deploy_cli.run(args))


if __name__ == "__main__":
    main()
