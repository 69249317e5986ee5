"""The deploy engine's cluster-touching paths against a real Kubernetes API server.

A k3s (the pinned image of deploy/versions.yaml) runs in the container engine, or the
cluster of PLATFORM_E2E_KUBECONFIG is used (the pipeline's k3s). Without a container engine
every test here skips, saying why (tests/e2e/conftest.py). What runs for real: the kubernetes
client's identity read, server-side apply and its dry-run diff, create-if-absent Secrets,
Helm 4's install --wait=watcher and its dry run, a rerun that changes nothing, the
NetworkPolicy probe pods, and the one-line CLI errors.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from platform_deploy.cluster import KubeCluster
from platform_deploy.deploy_settings import ClusterIdentity, Probe, load_deploy_settings
from platform_deploy.engine import Engine
from platform_deploy.environments import load_environments
from platform_deploy.helm import Helm
from platform_deploy.helm_commands import KubeTarget
from platform_deploy.helm_runner import HelmRunner
from platform_deploy.inventory import load_inventory
from platform_deploy.redaction import Redactor
from platform_deploy.repo import REPO_ROOT
from platform_deploy.steps import Step, deploy_steps, ordered
from platform_deploy.versions import load_versions

pytestmark = pytest.mark.e2e


def _k3s_kubeconfig(directory: Path) -> Iterator[Path]:
    docker = shutil.which("docker") or "docker"
    name = f"deploy-engine-e2e-{secrets.token_hex(4)}"
    subprocess.run(
        [
            docker,
            "run",
            "-d",
            "--privileged",
            "--name",
            name,
            "-p",
            "127.0.0.1::6443",
            load_versions().k3s_image,
            "server",
            "--disable=traefik",
            "--disable=metrics-server",
        ],
        check=True,
        capture_output=True,
    )
    try:
        port = (
            subprocess.run(
                [docker, "port", name, "6443/tcp"], check=True, capture_output=True, text=True
            )
            .stdout.strip()
            .rsplit(":", 1)[1]
        )
        deadline = time.monotonic() + 180
        text = ""
        while time.monotonic() < deadline and "certificate-authority-data" not in text:
            time.sleep(2)
            text = subprocess.run(
                [docker, "exec", name, "cat", "/etc/rancher/k3s/k3s.yaml"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
        config = yaml.safe_load(text)
        config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
        path = directory / "kubeconfig"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        path.chmod(0o600)
        yield path
    finally:
        subprocess.run([docker, "rm", "-f", name], capture_output=True, check=False)


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    given = os.environ.get("PLATFORM_E2E_KUBECONFIG")
    if given:
        yield Path(given)
        return
    yield from _k3s_kubeconfig(tmp_path_factory.mktemp("k3s"))


@pytest.fixture(scope="module")
def engine(kubeconfig: Path) -> Engine:
    from kubernetes import client, config

    from platform_deploy.deploy_cli import _helm_binary

    cluster = KubeCluster(kubeconfig, None)
    api = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    core = client.CoreV1Api(api)
    for _ in range(60):  # the API answers before the node is ready for pods
        statuses = [n.status for n in core.list_node().items if n.status]
        conditions = [c for status in statuses for c in status.conditions or []]
        if any(c.type == "Ready" and c.status == "True" for c in conditions):
            break
        time.sleep(3)
    settings = load_deploy_settings()["ci"]
    # This cluster is not the pipeline's: the test names it by what it really is.
    settings = dataclasses.replace(
        settings, cluster=ClusterIdentity(api_server=cluster.identity().api_server)
    )
    target = KubeTarget(kubeconfig, None)
    output: list[str] = []
    redactor = Redactor()
    return Engine(
        environment=load_environments()["ci"],
        settings=settings,
        inventory=load_inventory(),
        versions=load_versions(),
        cluster=cluster,
        helm=HelmRunner(lambda: Helm(_helm_binary()), target),
        redactor=redactor,
        say=lambda line: output.append(redactor.redact(line)),
        target=target,
    )


def _step(engine: Engine, kind: str) -> Step:
    steps = ordered(deploy_steps(engine.environment, engine.settings))
    return next(step for step in steps if step.kind == kind)


def test_identity_is_read_from_kube_system(engine: Engine) -> None:
    observed = engine.cluster.identity()
    assert len(observed.kube_system_uid) == 36
    engine.guard()


def test_namespaces_secrets_and_policies_apply_and_rerun_unchanged(engine: Engine) -> None:
    for kind in ("preflight", "namespaces", "secrets", "policies"):
        engine.run_step(_step(engine, kind))
    salt = engine.cluster.read_secret("langfuse", "langfuse-salt")
    assert salt is not None
    versions = {
        m["metadata"]["name"]: engine.cluster.get(m)["metadata"]["resourceVersion"]  # type: ignore[index]
        for m in engine.policy_manifests()
    }
    for kind in ("namespaces", "secrets", "policies"):
        engine.run_step(_step(engine, kind))
    assert engine.cluster.read_secret("langfuse", "langfuse-salt") == salt  # not rotated
    after = {
        m["metadata"]["name"]: engine.cluster.get(m)["metadata"]["resourceVersion"]  # type: ignore[index]
        for m in engine.policy_manifests()
    }
    assert after == versions  # a server-side apply of the same content writes nothing


def test_test_redis_release_installs_then_is_unchanged(engine: Engine) -> None:
    release = engine.environment.release("redis")
    engine.run_step(Step("release redis", "release", release="redis"))
    state = engine.helm.state(release)
    assert state is not None
    assert state.status == "deployed"
    decision, _ = engine.release_decision(release)
    assert decision.action == "unchanged", decision.reason


def test_plan_changes_nothing(engine: Engine) -> None:
    before = engine.cluster.read_secret("default", "redis-secrets")
    engine.plan()
    assert engine.cluster.read_secret("default", "redis-secrets") == before


def test_network_probe_pods_run(engine: Engine) -> None:
    probe = Probe(
        "e2e-backend-to-redis",
        {"component": "backend"},
        "default",
        "redis.default.svc.cluster.local",
        6379,
        "open",
    )
    code, detail = engine.cluster.run_probe(probe, engine.settings.verify.probe_image, 180)
    assert code == 0, detail


def test_cli_refuses_the_wrong_cluster_in_one_line(kubeconfig: Path) -> None:
    config = yaml.safe_load(kubeconfig.read_text(encoding="utf-8"))
    if (
        config["clusters"][0]["cluster"]["server"]
        == load_deploy_settings()["ci"].cluster.api_server
    ):
        pytest.skip("this is the ci environment's own cluster: the guard rightly accepts it")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "platform_deploy",
            "plan",
            "--env",
            "ci",
            "--kubeconfig",
            str(kubeconfig),
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: cluster identity:")
    assert "Traceback" not in result.stderr
