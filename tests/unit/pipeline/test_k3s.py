"""k3s's arguments, start-up scripts and kubeconfig, checked as text and by a real sh."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from pipeline import k3s
from platform_deploy.deploy_settings import load_deploy_settings
from platform_deploy.versions import load_versions

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


def test_each_start_wipes_the_old_cluster_before_placing_the_images() -> None:
    lines = k3s.prepare_state_script().splitlines()
    assert lines[0] == "set -eu"
    wipe = lines.index("rm -rf /var/lib/rancher/k3s /etc/rancher/k3s/*")
    copy = lines.index("cp /pipeline/images/*.tar /var/lib/rancher/k3s/agent/images/")
    assert wipe < copy
    assert parses_in_sh(k3s.prepare_state_script())


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
    expected = load_deploy_settings()["ci"].cluster.api_server
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
