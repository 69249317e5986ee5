"""The deploy engine's cluster-touching paths against a real Kubernetes API server.

A k3s (the pinned image of deploy/versions.yaml) runs in the container engine, or the
cluster of PLATFORM_E2E_KUBECONFIG is used (the pipeline's k3s). Without a container engine
every test here skips, saying why (tests/e2e/conftest.py); so does it where the engine answers
but the k3s image cannot be pulled (no registry), naming the image. k3s runs --privileged, as
its documentation asks. What runs for real: the kubernetes
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
from typing import Literal

import pytest
import yaml

from platform_deploy.config.deploy_settings import ClusterIdentity, Probe
from platform_deploy.config.environments import Release, load_environments
from platform_deploy.config.files import REPO_ROOT
from platform_deploy.config.inventory import load_inventory
from platform_deploy.config.versions import load_versions
from platform_deploy.engine.cluster import KubeCluster
from platform_deploy.engine.engine import Engine, Step
from platform_deploy.engine.redaction import Redactor
from platform_deploy.engine.verification import probe_check
from platform_deploy.helm.binary import locked_helm
from platform_deploy.helm.client import Helm, HelmError
from platform_deploy.helm.releases import ChartSource, KubeTarget
from tests.e2e.docker_cli import pull_problem

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
    problem = pull_problem(load_versions().k3s_image)
    if problem is not None:
        pytest.skip(f"no Kubernetes API server: the k3s image {problem}")
    yield from _k3s_kubeconfig(tmp_path_factory.mktemp("k3s"))


@pytest.fixture(scope="module")
def engine(kubeconfig: Path) -> Engine:
    from kubernetes import client, config

    cluster = KubeCluster(kubeconfig, None)
    api = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    core = client.CoreV1Api(api)
    for _ in range(60):  # the API answers before the node is ready for pods
        statuses = [n.status for n in core.list_node().items if n.status]
        conditions = [c for status in statuses for c in status.conditions or []]
        if any(c.type == "Ready" and c.status == "True" for c in conditions):
            break
        time.sleep(3)
    ci = load_environments()["ci"]
    # This cluster is not the pipeline's: the test names it by what it really is.
    settings = dataclasses.replace(
        ci.deploy, cluster=ClusterIdentity(api_server=cluster.identity().api_server)
    )
    target = KubeTarget(kubeconfig, None)
    output: list[str] = []
    redactor = Redactor()
    return Engine(
        environment=dataclasses.replace(ci, deploy=settings),
        inventory=load_inventory(),
        versions=load_versions(),
        cluster=cluster,
        helm=Helm(locked_helm, target=target),
        redactor=redactor,
        say=lambda line: output.append(redactor.redact(line)),
        target=target,
    )


def _step(engine: Engine, kind: str) -> Step:
    """The step of that kind: "secrets" is "secrets (generated)" here."""
    return next(step for step in engine.steps() if step.name.split(" ")[0] == kind)


def test_identity_is_read_from_kube_system(engine: Engine) -> None:
    observed = engine.cluster.identity()
    assert len(observed.kube_system_uid) == 36
    engine.guard()


def test_namespaces_secrets_and_policies_apply_and_rerun_unchanged(engine: Engine) -> None:
    for kind in ("preflight", "namespaces", "secrets", "policies"):
        _step(engine, kind).run()
    salt = engine.cluster.read_secret("langfuse", "langfuse-salt")
    assert salt is not None
    versions = {
        m["metadata"]["name"]: engine.cluster.get(m)["metadata"]["resourceVersion"]  # type: ignore[index]
        for m in engine.policy_manifests()
    }
    for kind in ("namespaces", "secrets", "policies"):
        _step(engine, kind).run()
    assert engine.cluster.read_secret("langfuse", "langfuse-salt") == salt  # not rotated
    after = {
        m["metadata"]["name"]: engine.cluster.get(m)["metadata"]["resourceVersion"]  # type: ignore[index]
        for m in engine.policy_manifests()
    }
    assert after == versions  # a server-side apply of the same content writes nothing


def test_test_redis_release_installs_then_is_unchanged(engine: Engine) -> None:
    release = engine.environment.release("redis")
    engine.step("release redis").run()
    state = engine.helm.state(release)
    assert state is not None
    assert state.status == "deployed"
    decision, _ = engine.release_decision(release)
    assert decision.action == "unchanged", decision.reason


def test_plan_changes_nothing(engine: Engine) -> None:
    before = engine.cluster.read_secret("default", "redis-secrets")
    engine.plan()
    assert engine.cluster.read_secret("default", "redis-secrets") == before


def test_a_null_in_the_values_leaves_a_rerun_unchanged(engine: Engine, tmp_path: Path) -> None:
    """Helm stores nulls in a release's values; the engine's comparison keeps them too."""
    nulls = tmp_path / "nulls.yaml"
    nulls.write_text("annotations: null\n", encoding="utf-8")
    with_nulls = dataclasses.replace(engine, extra_values={"redis": [nulls]})
    release = engine.environment.release("redis")
    with_nulls.step("release redis").run()
    decision, _ = with_nulls.release_decision(release)
    assert decision.action == "unchanged", decision.reason


def _probe(name: str, labels: dict[str, str], expect: Literal["open", "closed"]) -> Probe:
    return Probe(name, labels, "default", "redis.default.svc.cluster.local", 6379, expect)


def test_probes_right_after_the_policies_tell_open_from_closed(engine: Engine) -> None:
    """New probe pods race the policy controller: an "open" probe retries a refused
    connection within its bound, a "closed" one is tried once and must stay refused."""
    _step(engine, "policies").run()
    image = engine.settings.verify.probe_image
    for attempt in range(3):  # a fresh pod each time, straight after the policies
        probe = _probe(f"e2e-open-{attempt}", {"component": "backend"}, "open")
        code, detail = engine.cluster.run_probe(probe, image, 180)
        assert probe_check(probe, code, detail).ok, detail
    closed = _probe("e2e-closed", {}, "closed")
    code, detail = engine.cluster.run_probe(closed, image, 180)
    assert code is not None, detail
    assert code != 0, "an unlabelled pod reached Redis"
    assert probe_check(closed, code, detail).ok


_SLOW_CHART = {
    "Chart.yaml": "apiVersion: v2\nname: slow-ready\nversion: 0.1.0\n",
    "templates/deployment.yaml": """apiVersion: apps/v1
kind: Deployment
metadata:
  name: slow-ready
spec:
  replicas: 1
  progressDeadlineSeconds: 10
  selector:
    matchLabels: {app: slow-ready}
  template:
    metadata:
      labels: {app: slow-ready}
    spec:
      containers:
        - name: slow
          image: {{ .Values.image }}
          command: [sh, -c, "sleep 45 && touch /tmp/ready && sleep 3600"]
          readinessProbe:
            exec: {command: [cat, /tmp/ready]}
            periodSeconds: 2
""",
}


@pytest.mark.parametrize("wait", ["legacy", "watcher"])
def test_a_wait_outlasts_a_short_progress_deadline_only_when_legacy(
    engine: Engine, tmp_path: Path, wait: Literal["legacy", "watcher"]
) -> None:
    """A Deployment ready after 45 s with a 10 s progress deadline: the legacy wait (what
    Langfuse's release uses) waits for it within the timeout; the watcher gives up on the
    Failed status first, the defect that made Langfuse's 20 minutes 10."""
    chart = tmp_path / "slow-ready"
    for name, text in _SLOW_CHART.items():
        (chart / name).parent.mkdir(parents=True, exist_ok=True)
        (chart / name).write_text(text, encoding="utf-8")
    values = tmp_path / "values.yaml"
    values.write_text(f"image: {engine.settings.verify.probe_image}\n", encoding="utf-8")
    release = Release(f"slow-{wait}", "default", str(chart), (values,))
    settings = dataclasses.replace(
        engine.settings,
        timeouts_s={**engine.settings.timeouts_s, release.name: 120},
        waits={**engine.settings.waits, release.name: wait},
    )
    began = time.monotonic()
    if wait == "legacy":
        engine.helm.apply("install", release, ChartSource(str(chart)), [values], settings)
        assert time.monotonic() - began >= 45
        state = engine.helm.state(release)
        assert state is not None
        assert state.status == "deployed"
    else:
        with pytest.raises(HelmError):
            engine.helm.apply("install", release, ChartSource(str(chart)), [values], settings)
        assert time.monotonic() - began < 110


def test_cli_refuses_the_wrong_cluster_in_one_line(kubeconfig: Path) -> None:
    config = yaml.safe_load(kubeconfig.read_text(encoding="utf-8"))
    if (
        config["clusters"][0]["cluster"]["server"]
        == load_environments()["ci"].deploy.cluster.api_server
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
