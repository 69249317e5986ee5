"""k3s's arguments, start-up scripts and kubeconfig, checked as text and by a real sh."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from pipeline import k3s
from pipeline.registry_login import RegistryLogin
from platform_deploy.config.environments import load_environments
from platform_deploy.config.versions import load_versions

# No key material: placeholders where k3s writes base64 certificates and keys.
K3S_KUBECONFIG = """\
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: PLACEHOLDER
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: PLACEHOLDER
    client-key-data: PLACEHOLDER
"""


def parses_in_sh(script: str) -> bool:
    shell = shutil.which("sh")
    assert shell is not None
    return subprocess.run([shell, "-n", "-c", script], check=False).returncode == 0


def test_the_server_is_configured_as_the_recipe_says() -> None:
    shell, flag, command = k3s.server_command()
    assert (shell, flag) == ("sh", "-c")
    assert command.startswith("k3s server ")
    for argument in (
        "--disable=traefik",
        "--disable=metrics-server",
        "--tls-san=k3s",
        "--write-kubeconfig=/etc/rancher/k3s/k3s.yaml",
        "--egress-selector-mode=disabled",
        "--log=/etc/rancher/k3s/k3s.log",
    ):
        assert f" {argument}" in command
    assert "--private-registry" not in command
    assert parses_in_sh(command)


def test_the_mirror_configuration_is_passed_only_with_a_mirror() -> None:
    command = k3s.server_command(private_registry=True)[2]
    assert f" --private-registry={k3s.REGISTRIES_FILE}" in command
    # Not under /etc/rancher/k3s: that is a cache volume, which would hide the file.
    assert not k3s.REGISTRIES_FILE.startswith(k3s.CONFIG_DIR)


def test_the_tls_san_follows_the_alias() -> None:
    assert " --tls-san=cluster " in k3s.server_command(alias="cluster")[2] + " "


def test_the_pinned_k3s_comes_from_deploy_versions() -> None:
    versions = load_versions()
    assert versions.k3s_image.startswith("docker.io/rancher/k3s:v1.33.")
    assert versions.k3s_image.endswith(versions.k3s.replace("+", "-"))


def test_each_start_wipes_the_old_cluster_and_copies_no_image() -> None:
    assert k3s.prepare_state_script().splitlines() == [
        "set -eu",
        "rm -rf /var/lib/rancher/k3s /etc/rancher/k3s/*",  # state, kubeconfig, log, heartbeat
        "mkdir -p /var/lib/rancher/k3s/agent/images",
    ]
    assert parses_in_sh(k3s.prepare_state_script())


def fake_k3s(directory: Path, script: str) -> dict[str, str]:
    """A `k3s` on PATH that runs `script`, and the environment to find it."""
    (directory / "bin").mkdir()
    binary = directory / "bin" / "k3s"
    binary.write_text(f"#!/bin/sh\n{script}\n")
    binary.chmod(0o755)
    return {**os.environ, "PATH": f"{directory / 'bin'}:{os.environ['PATH']}"}


def test_the_service_shell_beats_while_k3s_runs_and_records_its_exit(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    env = fake_k3s(tmp_path, f"sleep 2; echo running > {tmp_path}/ran; exit 3")
    command = k3s.server_command(config_dir=str(config), heartbeat_every_s=1)
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 3  # k3s's own status is the service's
    assert (tmp_path / "ran").read_text() == "running\n"
    beat = int((config / k3s.HEARTBEAT_NAME).read_text())
    assert abs(time.time() - beat) < 10
    assert (config / k3s.EXITED_NAME).read_text() == "3\n"
    probe = subprocess.run(
        ["sh", "-c", k3s.liveness_probe_script(str(config))], capture_output=True, text=True
    )
    assert k3s.liveness(probe.stdout) == k3s.Liveness(False, "k3s exited with status 3")


def test_stopping_the_service_stops_k3s(tmp_path: Path) -> None:
    """Dagger stops a service with SIGTERM to its main process, the shell: k3s gets it."""
    config = tmp_path / "config"
    config.mkdir()
    env = fake_k3s(tmp_path, "trap 'exit 0' TERM; while :; do sleep 0.2; done")
    command = k3s.server_command(config_dir=str(config), heartbeat_every_s=1)
    with subprocess.Popen(command, env=env) as service:
        deadline = time.monotonic() + 10
        while not (config / k3s.HEARTBEAT_NAME).exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        alive = subprocess.run(
            ["sh", "-c", k3s.liveness_probe_script(str(config))], capture_output=True, text=True
        )
        assert k3s.liveness(alive.stdout).alive
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=10) == 0
    assert (config / k3s.EXITED_NAME).read_text() == "0\n"


@pytest.mark.parametrize(
    ("heartbeat", "exited", "alive", "reason"),
    [
        ("995", "", True, "k3s's last heartbeat is 5 s old"),
        ("970", "", True, "k3s's last heartbeat is 30 s old"),
        ("969", "", False, "k3s's last heartbeat is 31 s old"),
        ("995", "137", False, "k3s exited with status 137"),
        ("", "", False, "k3s's container wrote no heartbeat"),
        ("12ab", "", False, "k3s's heartbeat is unreadable ('12ab' at '1000')"),
    ],
    ids=["fresh", "at-the-limit", "stale", "exited", "never-beat", "garbled"],
)
def test_k3s_counts_as_running_only_with_a_fresh_heartbeat_and_no_exit(
    heartbeat: str, exited: str, alive: bool, reason: str
) -> None:
    probe = f"now=1000\nheartbeat={heartbeat}\nexited={exited}\n"
    assert k3s.liveness(probe) == k3s.Liveness(alive, reason)
    if not heartbeat and not exited:
        assert k3s.liveness("") == k3s.Liveness(alive, reason)  # the probe printed nothing


def test_the_cgroup_entrypoint_is_valid_sh_and_execs_its_arguments() -> None:
    assert k3s.CGROUP_ENTRYPOINT.startswith("#!/bin/sh\n")
    assert k3s.CGROUP_ENTRYPOINT.rstrip().endswith('exec "$@"')
    assert parses_in_sh(k3s.CGROUP_ENTRYPOINT)


def test_the_kubeconfig_points_at_the_service_alias() -> None:
    rewritten = yaml.safe_load(k3s.rewrite_kubeconfig(K3S_KUBECONFIG))
    assert rewritten["clusters"][0]["cluster"]["server"] == "https://k3s:6443"
    # Everything else is k3s's own.
    original = yaml.safe_load(K3S_KUBECONFIG)
    original["clusters"][0]["cluster"]["server"] = "https://k3s:6443"
    assert rewritten == original


def test_the_deploy_engine_recognises_the_cluster_by_that_server() -> None:
    # Its identity guard refuses any other API server for the ci environment.
    rewritten = yaml.safe_load(k3s.rewrite_kubeconfig(K3S_KUBECONFIG))
    expected = load_environments()["ci"].deploy.cluster.api_server
    assert rewritten["clusters"][0]["cluster"]["server"] == expected


def test_a_kubeconfig_without_a_cluster_is_refused() -> None:
    with pytest.raises(ValueError, match="names no cluster"):
        k3s.rewrite_kubeconfig("apiVersion: v1\nkind: Config\nclusters: []\n")
    with pytest.raises(ValueError, match="has no server"):
        k3s.rewrite_kubeconfig("clusters:\n- name: default\n  cluster: {}\n")


def test_registries_yaml_mirrors_docker_hub() -> None:
    text = k3s.registries_yaml({"docker.io": "http://docker-io-mirror:5000"})
    assert yaml.safe_load(text) == {
        "mirrors": {"docker.io": {"endpoint": ["http://docker-io-mirror:5000"]}}
    }


def test_registries_yaml_logs_k3s_in_to_docker_hub_itself() -> None:
    made_up = "not-a-real-one"
    login = RegistryLogin("ci-bot", made_up, "test")
    with_mirror = yaml.safe_load(
        k3s.registries_yaml({"docker.io": "http://docker-io-mirror:5000"}, login)
    )
    # Keyed by docker.io: used for Docker Hub's own endpoint, never sent to the mirror.
    assert with_mirror["configs"] == {
        "docker.io": {"auth": {"username": "ci-bot", "password": made_up}}
    }
    assert set(with_mirror["configs"]) == {"docker.io"}
    without_mirror = yaml.safe_load(k3s.registries_yaml({}, login))
    assert without_mirror == {"configs": with_mirror["configs"]}


def test_the_wait_scripts_are_valid_sh() -> None:
    assert parses_in_sh(k3s.wait_for_file_script("/k3s-config/k3s.yaml", 120))
    assert parses_in_sh(k3s.node_ready_script(300))
    script = k3s.images_present_script(
        ["docker.io/ai-platform/gateway:ci", "docker.io/ai-platform/litellm:ci"], 180
    )
    assert parses_in_sh(script)
    assert script.count("grep -qxF") == 2


def test_waiting_for_a_file_gives_up_with_a_message() -> None:
    result = subprocess.run(
        ["sh", "-c", k3s.wait_for_file_script("/nonexistent/k3s.yaml", 1)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "k3s wrote no /nonexistent/k3s.yaml within 1 s"
