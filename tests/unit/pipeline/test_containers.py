"""The pipeline's containers, read as the SDK builds them: Dagger objects are lazy, so the
calls each one is made of can be read without an engine (from the SDK's own record of the
query, `_ctx.selections`). What these show is the query the engine would get; whether the
engine and k3s then behave as intended needs an engine, which this machine has not.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import dagger
from dagger import dag
from dagger.client.base import Type

from pipeline import containers, k3s
from pipeline.image_archives import CONTAINERD_NAME, OCI_REF_NAME, ImageArchive, image_archives
from pipeline.images import cluster_references, platform_values
from pipeline.registry_login import RegistryLogin

K3S_IMAGE = "docker.io/rancher/k3s:v1.33.5-k3s1"
USER = "ci-bot"
TOKEN = "made-up-for-the-test-" + "y" * 6
LOGIN = RegistryLogin(USER, TOKEN, "test")

Call = tuple[str, dict[str, Any]]


def calls(obj: Type) -> list[Call]:
    """The chain of API calls that makes `obj`, first to last."""
    return [(field.name, field.args) for field in obj._ctx.selections]


def every_call(obj: Type) -> Iterator[Call]:
    """Every call of `obj` and of the objects passed to it, recursively."""
    for name, args in calls(obj):
        yield name, args
        for value in args.values():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, Type):
                    yield from every_call(item)


def archives_with_files() -> list[tuple[ImageArchive, dagger.File]]:
    archives = image_archives(cluster_references(platform_values("ci")))
    return [
        (archive, dag.directory().with_new_file("x", archive.service).file("x"))
        for archive in archives
    ]


def k3s_service(
    archives: Sequence[tuple[ImageArchive, dagger.File]],
    mirror: bool = True,
    login: RegistryLogin | None = None,
) -> dagger.Service:
    auth = containers.docker_hub_auth(login) if login else None
    return containers.k3s_service(
        K3S_IMAGE,
        archives,
        "run-1",
        containers.docker_io_mirror(auth) if mirror else None,
        login,
    )


def test_an_archive_is_the_named_image_as_one_tarball() -> None:
    archive = image_archives(cluster_references(platform_values("ci")))[0]
    image = dag.container().from_("docker.io/library/busybox:1")
    assert calls(containers.image_archive(image, archive))[2:] == [
        ("withAnnotation", {"name": CONTAINERD_NAME, "value": "docker.io/ai-platform/gateway:ci"}),
        ("withAnnotation", {"name": OCI_REF_NAME, "value": "ci"}),
        ("asTarball", {}),
    ]


def test_k3s_mounts_each_archive_once_after_the_wipe_and_copies_none() -> None:
    archives = archives_with_files()
    chain = calls(k3s_service(archives))
    names = [name for name, _ in chain]
    mounted = [args for name, args in chain if name == "withMountedFile"]
    assert [args["path"] for args in mounted] == [archive.path for archive, _ in archives]
    assert all(args["source"] is file for args, (_, file) in zip(mounted, archives, strict=True))
    wipe = names.index("withExec")
    assert names.count("withExec") == 1
    assert wipe < names.index("withMountedFile")  # the wipe never meets a mounted archive
    assert "withFile" not in names
    (script,) = (args["args"][2] for name, args in chain if name == "withExec")
    assert "cp " not in script
    assert ".tar" not in script


def test_the_mirror_and_the_registries_file_are_wired_only_when_asked() -> None:
    archives = archives_with_files()
    plain = [name for name, _ in calls(k3s_service(archives, mirror=False))]
    assert "withServiceBinding" not in plain
    assert "withMountedSecret" not in plain
    (service_args,) = (a for n, a in calls(k3s_service(archives, mirror=False)) if n == "asService")
    assert "--private-registry" not in service_args["args"][2]
    mirrored = calls(k3s_service(archives, mirror=True))
    assert ("withServiceBinding", "docker-io-mirror") in [(n, a.get("alias")) for n, a in mirrored]
    logged_in = calls(k3s_service(archives, mirror=False, login=LOGIN))
    (secret_mount,) = (a for n, a in logged_in if n == "withMountedSecret")
    assert secret_mount["path"] == k3s.REGISTRIES_FILE
    (service_args,) = (a for n, a in logged_in if n == "asService")
    assert f"--private-registry={k3s.REGISTRIES_FILE}" in service_args["args"][2]


def test_the_mirror_logs_in_upstream_with_secret_variables() -> None:
    auth = containers.docker_hub_auth(LOGIN)
    chain = calls(containers.docker_io_mirror(auth))
    variables = {a["name"]: a["secret"] for n, a in chain if n == "withSecretVariable"}
    assert set(variables) == {"REGISTRY_PROXY_USERNAME", "REGISTRY_PROXY_PASSWORD"}
    assert variables["REGISTRY_PROXY_PASSWORD"] is auth.token
    anonymous = [n for n, _ in calls(containers.docker_io_mirror(None))]
    assert "withSecretVariable" not in anonymous


def test_the_session_login_is_docker_hubs_with_the_token_as_a_secret() -> None:
    auth = containers.docker_hub_auth(LOGIN)
    chain = calls(containers.docker_hub_session_login(auth))
    assert chain == [
        ("container", {}),
        ("withRegistryAuth", {"address": "docker.io", "username": USER, "secret": auth.token}),
    ]


def test_the_token_reaches_dagger_only_as_a_secret() -> None:
    """Everything the pipeline builds with a login given: the token is only ever the
    plaintext of `setSecret` (Dagger keeps secrets out of layers and scrubs them from logs),
    never an argument to an exec, a file, an environment variable or a label."""
    auth = containers.docker_hub_auth(LOGIN)
    built: list[Type] = [
        containers.docker_hub_session_login(auth),
        containers.docker_io_mirror(auth),
        k3s_service(archives_with_files(), mirror=True, login=LOGIN),
        k3s_service(archives_with_files(), mirror=False, login=LOGIN),
    ]
    carrying = set()
    for obj in built:
        for name, args in every_call(obj):
            for key, value in args.items():
                if TOKEN in repr(value):
                    carrying.add((name, key))
    assert carrying == {("setSecret", "plaintext")}


def test_the_disk_probe_mounts_every_cache_volume_and_binds_no_service() -> None:
    assert containers.CACHE_VOLUMES == (
        containers.PIP_CACHE,
        containers.MIRROR_CACHE,
        containers.K3S_STATE_CACHE,
        containers.K3S_CONFIG_CACHE,
    )
    chain = calls(containers.disk_probe("run-1-build-images-1"))
    mounts = [a["path"] for n, a in chain if n == "withMountedCache"]
    assert mounts == [f"/volumes/{volume}" for volume in containers.CACHE_VOLUMES]
    assert "withServiceBinding" not in [n for n, _ in chain]


def test_the_liveness_probe_reads_the_config_volume_without_binding_k3s() -> None:
    tools = dag.container().from_("docker.io/library/python:3.11")
    chain = calls(containers.k3s_liveness_probe(tools, "run-1", "123"))
    names = [n for n, _ in chain]
    assert "withServiceBinding" not in names
    assert ("withMountedCache", containers.K3S_CONFIG_MOUNT) in [
        (n, a.get("path")) for n, a in chain
    ]
    (script,) = (a["args"][2] for n, a in chain if n == "withExec")
    assert script == k3s.liveness_probe_script(containers.K3S_CONFIG_MOUNT)
