"""Invoke tasks: the commands people run. Each runs a nox session (noxfile.py: its environment
built from the hashed locks); each docstring's last line names where the work happens."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.runners import Result
from invoke.tasks import task


def _nox(
    c: Context,
    *sessions: str,
    posargs: list[str] | None = None,
    env: dict[str, str] | None = None,
    warn: bool = False,
) -> Result | None:
    if shutil.which("nox") is None:
        raise Exit("nox is not installed: see README.md, 'On a fresh machine'.", code=2)
    command = ["nox", "--sessions", *sessions]
    if posargs:
        command += ["--", *posargs]
    return c.run(shlex.join(command), pty=False, env=env or {}, warn=warn)


SHORT_RELIABILITY = {"RELIABILITY_SOAK_S": "20", "GATEWAY_FUZZ_EXAMPLES": "100"}
# Every check that needs no container engine, cheapest first.
OFFLINE_CHECKS = ("lint", "typecheck", "manifests", "nca", "checkov", "hadolint", "detect_secrets")


@task(help={"pytest_args": 'extra arguments for pytest, e.g. "-k capture -x"'})
def test(c: Context, pytest_args: str = "") -> None:
    """Run every check that needs no container engine (the e2e tests are never collected).

    Lint and strict typing; the deployment's manifests, policies (nca), checkov, hadolint
    and detect-secrets; the unit and integration tests; then a short run of the
    reliability suite. `invoke e2e` is the container tier.

    → nox -s lint typecheck manifests nca checkov hadolint detect_secrets tests reliability
    """
    _nox(c, *OFFLINE_CHECKS)
    _nox(c, "tests", posargs=shlex.split(pytest_args))
    # The reliability suite's short variant: the whole fault matrix, a 20 s soak and a
    # 100-example fuzz (about 2 minutes); `nox -s reliability` runs the full one.
    _nox(c, "reliability", env=SHORT_RELIABILITY)


@task
def lint(c: Context) -> None:
    """Ruff's lint rules and formatting check, then mypy in strict mode.

    → nox -s lint typecheck (configured in pyproject.toml)
    """
    _nox(c, "lint", "typecheck")


@task(
    help={
        "real_providers": "call the real Anthropic and Groq APIs (needs ANTHROPIC_API_KEY "
        "and GROQ_API_KEY) instead of the provider emulator",
        "ports": "set ports one by one, e.g. gateway=9002,litellm=5000 (names: gateway, "
        "litellm, redis, emulator, receiver; default: $DEVSTACK_PORTS)",
        "port_offset": "add N to every documented port, e.g. 100: gateway 8102, LiteLLM 4100 "
        "(default: $DEVSTACK_PORT_OFFSET)",
    }
)
def dev(c: Context, real_providers: bool = False, ports: str = "", port_offset: int = 0) -> None:
    """Run the local stack in the foreground on 127.0.0.1 until Ctrl-C, SIGINT or SIGTERM.

    The gateway :8002, LiteLLM :4000, Redis :6379 (its own, unless one there takes
    $DEVSTACK_REDIS_PASSWORD), the provider emulator :8090; traces go to the Langfuse named
    by LANGFUSE_HOST, LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY when all three are set,
    else to the local OTLP receiver :3000. Taken ports are named before anything starts.

    → nox -s dev → devstack/__main__.py → devstack/stack.py
    """
    if shutil.which("nox") is None:
        raise Exit("nox is not installed: see README.md, 'On a fresh machine'.", code=2)
    args = ["--real-providers"] if real_providers else []
    args += ["--ports", ports] if ports else []
    args += ["--port-offset", str(port_offset)] if port_offset else []
    # exec, not c.run: nox (and then the stack: the dev session execs it too) takes this
    # process's place, so Ctrl-C, SIGINT or SIGTERM sent to `invoke dev` reach the stack
    # itself. Through c.run, invoke turns SIGINT into "\x03" on nox's stdin, which nox
    # ignores, and SIGTERM would leave the stack running without its parent.
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvp("nox", ["nox", "--sessions", "dev", *(["--", *args] if args else [])])  # noqa: S606


@task(
    help={
        "out": "where the JSON goes; the .md summary and .png chart go beside it "
        "(default: bench/results/latest.json)",
        "quick": "a smoke run of a few seconds per step, not for publishing",
        "litellm_settings": "LiteLLM settings to compare with the shipped config: all "
        "(default), none, or comma-separated names from bench/litellm_settings.py",
        "from_results": "measure nothing: rebuild the summary and chart from a run's JSON",
    }
)
def bench(
    c: Context,
    out: str = "",
    quick: bool = False,
    litellm_settings: str = "",
    from_results: str = "",
) -> None:
    """Measure what nginx, a bare Python pass-through, the gateway and LiteLLM add to a call.

    Each against the direct call, in one run, with the CPU each hop spends per request and
    LiteLLM's settings compared. Needs nginx (Debian: nginx-light; scripts/bootstrap.sh
    installs it). About 30 minutes, on a machine that runs nothing else.

    → nox -s bench → bench/__main__.py
    """
    args = ["--out", out] if out else []
    args += ["--quick"] if quick else []
    args += ["--litellm-settings", litellm_settings] if litellm_settings else []
    args += ["--from-results", from_results] if from_results else []
    _nox(c, "bench", posargs=args)


@task(
    help={
        "name": "required: the client's name, e.g. search-backend",
        "models": "required: comma-separated models it may use, e.g. claude-sonnet,groq-llama",
        "rpm": "requests per minute (default: no limit)",
        "tpm": "tokens per minute (default: no limit)",
        "key_file": "where to write the key, mode 0600 (default: .secrets/<name>.key)",
        "clients_file": "the local stack's clients file, to add the entry to "
        "(default: .devstack/clients.json, which `invoke dev` serves)",
        "reject_unsent_fields": "answer 400 naming a field the provider would not get, "
        "instead of dropping it (default: drop and name it in x-gateway-dropped-fields)",
    }
)
def mint_client_key(
    c: Context,
    name: str = "",
    models: str = "",
    rpm: int = 0,
    tpm: int = 0,
    key_file: str = "",
    clients_file: str = "",
    reject_unsent_fields: bool = False,
) -> None:
    """Mint a gateway client key: the key goes to a 0600 file, its entry into the local
    stack's clients file (a running `invoke dev` restarts its gateway to serve it), and the
    entry is printed for a deployed gateway's clients file.

    → nox -s mint-client-key → services/gateway/gateway/mint.py
    """
    if not name or not models:
        raise Exit("--name and --models are both required (see --help).", code=2)
    args = ["--name", name, "--models", models]
    args += ["--rpm", str(rpm)] if rpm else []
    args += ["--tpm", str(tpm)] if tpm else []
    args += ["--key-file", key_file] if key_file else []
    args += ["--clients-file", clients_file] if clients_file else []
    args += ["--reject-unsent-fields"] if reject_unsent_fields else []
    _nox(c, "mint-client-key", posargs=args)


@task(help={"check": "only check: fail, naming them, if any file is out of date"})
def generate(c: Context, check: bool = False) -> None:
    """Rewrite the derived files: the ExternalSecrets and the ClusterSecretStore
    (deploy/secrets/generated/, from the inventory), the policy README's table (from
    deploy/policies/allowed-paths.yaml) and the fields each provider never gets
    (services/gateway/gateway/unsent_fields.json, from the locked LiteLLM, in its own venv).
    A test fails when one is out of date.

    → nox -s generate → platform_deploy/__main__.py generate
    → nox -s unsent-fields → services/gateway/gateway/unsent_fields_table.py
    """
    posargs = ["--check"] if check else []
    _nox(c, "generate", posargs=posargs)
    _nox(c, "unsent-fields", posargs=posargs)


@task(help={"path": "where the environment goes (default: .venv, where editors look)"})
def venv(c: Context, path: str = ".venv") -> None:
    """An environment for your editor: the dev lock, and this repository's packages editable.

    Every import then resolves (gateway, provider_emulator, platform_deploy, pipeline, devstack,
    bench) without any path setting; the checks keep their own environments under .nox/.

    → uv venv, then the dev and build locks and `uv pip install --editable .`
    """
    if shutil.which("uv") is None:
        raise Exit("uv is not installed: see README.md, 'On a fresh machine'.", code=2)
    env = {"VIRTUAL_ENV": path}
    c.run(shlex.join(["uv", "venv", "--quiet", "--python", "3.11", path]), pty=False)
    locks = [arg for group in ("dev", "build") for arg in ("-r", f"locks/{group}.txt")]
    c.run(shlex.join(["uv", "pip", "install", "--require-hashes", "--no-deps", *locks]), env=env)
    c.run("uv pip install --no-deps --no-build-isolation --editable .", env=env)
    print(f"{path}: ready; point your editor at {path}/bin/python")


@task
def lock(c: Context) -> None:
    """Re-resolve every dependency group in pyproject.toml into hashed locks/<group>.txt.

    → nox -s lock (uv pip compile)
    """
    _nox(c, "lock")


def _docker_problem() -> str | None:
    """Why `docker info` reaches no engine, or None. The container tier needs Docker."""
    if shutil.which("docker") is None:
        return "the docker CLI is not installed"
    result = subprocess.run(
        ["docker", "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        timeout=15,
        check=False,
    )
    if result.returncode == 0:
        return None
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    return f"`docker info`: {lines[-1] if lines else f'exit status {result.returncode}'}"


@task(
    help={
        "skip_pipeline": "leave out the tests that run the Dagger pipeline (marked `pipeline`), "
        "as `invoke ci` and GitHub's container job do: the pipeline runs on its own there",
        "pytest_args": 'extra arguments for pytest, e.g. "-k platform -x"',
    }
)
def e2e(c: Context, skip_pipeline: bool = False, pytest_args: str = "") -> None:
    """The container tier: needs a Docker engine (a laptop's, a runner's, or bootstrap's).

    Builds every image from a clean context (on stand-in bases where no registry answers)
    and runs each as the cluster does; runs the ci platform's workloads from their rendered
    manifests and calls them end to end; the k3s and Dagger pipeline tests run where k3s's
    image and the Dagger CLI can be had, and skip saying why elsewhere. About 4 minutes cold.

    → nox -s e2e → tests/e2e/ (tests/e2e/workloads.py runs the rendered workloads)
    """
    problem = _docker_problem()
    if problem is not None:
        raise Exit(
            f"The container tier needs a Docker engine and none answers ({problem}); on Debian "
            "as root, `scripts/bootstrap.sh --docker-engine DIR` starts one (README.md).",
            code=2,
        )
    posargs = ["-m", "not pipeline"] if skip_pipeline else []
    _nox(c, "e2e", posargs=posargs + shlex.split(pytest_args))


@task(
    help={
        "skip_checks": "skip the fast checks (`invoke test`)",
        "skip_containers": "skip the container tier (`invoke e2e --skip-pipeline`)",
        "skip_pipeline": "skip the Dagger pipeline",
        "pipeline_args": 'extra arguments for `python -m pipeline`, e.g. "--until load-images"',
    }
)
def ci(
    c: Context,
    skip_checks: bool = False,
    skip_containers: bool = False,
    skip_pipeline: bool = False,
    pipeline_args: str = "",
) -> None:
    """The main job, as GitHub's workflow runs it: fast checks, container tier, then the pipeline.

    The pipeline (pipeline/README.md) builds the images, starts k3s in a container, deploys
    the ci environment into it and verifies it; it runs once. Its preflight comes first: without
    a container engine or the Dagger CLI it says so within seconds and exits 2, before anything
    else runs; `invoke test` and `invoke e2e` run without Dagger.

    → invoke test, invoke e2e --skip-pipeline, then nox -s pipeline → pipeline/run.py
    """
    if skip_checks and skip_containers and skip_pipeline:
        raise Exit(
            "--skip-checks, --skip-containers and --skip-pipeline leave nothing to run.", code=2
        )
    if not skip_pipeline:
        preflight = _nox(c, "pipeline", posargs=["--preflight"], warn=True)
        if preflight is not None and preflight.failed:
            raise Exit(code=2)  # the preflight said why in one sentence
    if not skip_checks:
        test(c)
    if not skip_containers:
        e2e(c, skip_pipeline=True)
    if not skip_pipeline:
        _nox(c, "pipeline", posargs=shlex.split(pipeline_args))


# --- The deploy engine (platform_deploy/): the same commands the pipeline runs.


def _deploy_args(env: str, kubeconfig: str, context: str) -> list[str]:
    # A flag with a default rather than a required argument: invoke makes those positional,
    # and `invoke deploy --help` would then run the task with --help as the environment.
    if not env:
        raise Exit("--env is required: ci or prod (deploy/environments.yaml).", code=2)
    args = ["--env", env]
    args += ["--kubeconfig", kubeconfig] if kubeconfig else []
    return args + (["--context", context] if context else [])


@task(
    help={
        "env": "required: ci (the pipeline's k3s) or prod, as named in deploy/environments.yaml",
        "plan": "only show what would change (Helm's server-side dry run, a server-side "
        "diff of the static manifests, the preflight); change nothing",
        "yes": "do not ask for confirmation (prod asks otherwise; ci never asks)",
        "kubeconfig": "the kubeconfig (default: $KUBECONFIG, then ~/.kube/config)",
        "context": "its context (default: the current one); the cluster is still checked "
        "by identity (API server or kube-system UID), never by this name",
        "values": "RELEASE=FILE, a values file appended for one release, e.g. "
        "platform=deploy/image-digests/prod.yaml; repeatable",
    },
    iterable=["values"],
)
def deploy(
    c: Context,
    env: str = "",
    plan: bool = False,
    yes: bool = False,
    kubeconfig: str = "",
    context: str = "",
    values: list[str] | None = None,
) -> None:
    """Deploy an environment: preflight, namespaces, secrets, releases, policies, verify.

    Refuses a cluster that is not the environment's; asks before changing production; a
    rerun changes nothing; secret values never appear in the output.

    → nox -s deploy → platform_deploy/__main__.py → platform_deploy/engine/engine.py
    """
    if shutil.which("nox") is None:
        raise Exit("nox is not installed: see README.md, 'On a fresh machine'.", code=2)
    args = ["deploy", *_deploy_args(env, kubeconfig, context)]
    args += ["--plan"] if plan else []
    args += ["--yes"] if yes else []
    for item in values or []:
        args += ["--values", item]
    # A terminal, so that the confirmation prompt can be answered.
    c.run(shlex.join(["nox", "--sessions", "deploy", "--", *args]), pty=True)


@task(
    help={
        "env": "required: ci or prod, as named in deploy/environments.yaml",
        "kubeconfig": "the kubeconfig (default: $KUBECONFIG, then ~/.kube/config)",
        "context": "its context (default: the current one); checked by identity too",
    }
)
def verify(c: Context, env: str = "", kubeconfig: str = "", context: str = "") -> None:
    """Verify a deployed environment and print a table of checks; fails if any fails.

    Rollouts ready, a completion through the gateway, its trace in Langfuse with model,
    usage, cost and latency, an ERROR observation for a failing request, NetworkPolicy probes.

    → nox -s verify → platform_deploy/__main__.py → platform_deploy/engine/verify.py
    """
    _nox(c, "verify", posargs=_deploy_args(env, kubeconfig, context))
