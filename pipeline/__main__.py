"""python -m pipeline [--publish] [--until STAGE] [--no-pull-cache] [--out DIR]
python -m pipeline --preflight

Exit status: 0 every stage passed, 1 a stage failed (the summary says which), 2 the pipeline
could not start here (no container engine, no Dagger CLI, or a precondition), in one
sentence. --preflight answers only those two questions, in seconds: 0 or 2.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pipeline.engine_check import cannot_run_message, engine_problem_here, no_engine_message
from pipeline.stages import PIPELINE
from platform_deploy.config.files import REPO_ROOT

DEFAULT_OUT = REPO_ROOT / "out" / "pipeline"


def new_run_id() -> str:
    """Sortable and unique: the folder name of this run's summary and diagnostics."""
    return time.strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline",
        description="Build the images, stand the platform up in a throwaway k3s cluster, "
        "deploy the ci environment and verify it.",
    )
    parser.add_argument(
        "--publish",
        action="store_true",
        help="after verify passes, push gateway and LiteLLM to the registry production pulls "
        "from and record their digests in deploy/image-digests/prod.yaml (needs a clean "
        "checkout, REGISTRY_USERNAME and REGISTRY_TOKEN)",
    )
    parser.add_argument(
        "--until",
        choices=[stage.name for stage in PIPELINE],
        help="stop after this stage (and what it needs), e.g. load-images",
    )
    parser.add_argument(
        "--no-pull-cache",
        action="store_true",
        help="let k3s pull from Docker Hub directly, not through the caching mirror",
    )
    parser.add_argument(
        "--preflight",
        action="store_true",
        help="only check, within seconds, that a container engine answers and the Dagger CLI "
        "is here (on PATH, in the SDK's cache, or downloadable by the SDK); exit 0 or 2",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="where each run's summary.json and diagnostics go (default: out/pipeline)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    problem = engine_problem_here()
    if problem is not None:
        print(no_engine_message(problem), file=sys.stderr)
        return 2

    # Imported after the check: without an engine the answer comes before dagger loads.
    from pipeline.dagger_cli import CliMissing, find_cli_here, hand_to_sdk

    cli = find_cli_here()
    if isinstance(cli, CliMissing):
        print(cannot_run_message(cli.problem), file=sys.stderr)
        return 2
    if args.preflight:
        print(f"A container engine answers and the Dagger CLI is {cli.where}.")
        return 0
    hand_to_sdk(cli)

    import anyio
    import dagger

    from pipeline import images
    from pipeline.registry_login import docker_hub_login
    from pipeline.report import connection_problem
    from pipeline.run import Options, run_pipeline
    from platform_deploy.config.versions import load_versions

    revision = images.source_revision()
    if args.publish:
        changed = images.uncommitted_changes()
        if changed or revision == "unknown":
            print(
                "--publish needs a clean git checkout, so the digests it records name one "
                f"commit; changed: {', '.join(changed[:5]) or 'no commit found'}.",
                file=sys.stderr,
            )
            return 2
    options = Options(
        out=args.out.resolve(),
        publish=args.publish,
        pull_cache=not args.no_pull_cache,
        until=args.until,
        docker_hub=docker_hub_login(),
    )
    references = images.cluster_references(images.platform_values("ci"))
    k3s_image = load_versions().k3s_image
    try:
        return anyio.run(run_pipeline, options, new_run_id(), revision, k3s_image, references)
    except (dagger.ProvisionError, dagger.ClientConnectionError) as error:
        # No CLI and no way to download it, an engine session that did not start, or an
        # engine that does not answer: one sentence, no traceback.
        print(cannot_run_message(connection_problem(error)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pipeline interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
