"""Run rendered Deployments as Docker containers: a small translator, manifest -> `docker run`.

Nothing of the manifests is re-typed here: every value a container gets comes from the render
(and the Secrets generated for it). What is carried over, and how:

| manifest                                        | docker run                                   |
| ----------------------------------------------- | -------------------------------------------- |
| image                                           | the image; a third-party image may be swapped |
|                                                 | for its stand-in by an explicit map (announced)|
| command / args                                  | --entrypoint and arguments; $(VAR) expanded  |
|                                                 | from the container's env, as the kubelet does |
| env: value, secretKeyRef, configMapKeyRef,      | --env NAME, the value through the CLI's own  |
| fieldRef metadata.name/namespace; envFrom       | environment (never in argv)                  |
| volumes: secret / configMap (items, modes)      | files in a host folder, group fsGroup,       |
|                                                 | bind-mounted read-only                       |
| volumes: emptyDir (sizeLimit)                   | --tmpfs                                      |
| securityContext: runAsUser, runAsGroup, fsGroup | --user uid:gid, --group-add                  |
| runAsNonRoot                                    | refused when the user would be root (kubelet)|
| readOnlyRootFilesystem, capabilities,           | --read-only, --cap-drop/--cap-add,           |
| allowPrivilegeEscalation: false                 | --security-opt no-new-privileges             |
| resources.limits cpu / memory                   | --cpus / --memory                            |
| terminationGracePeriodSeconds                   | --stop-timeout                               |
| Services selecting the pod's labels             | network aliases <svc>, <svc>.<ns>,           |
|                                                 | <svc>.<ns>.svc, <svc>.<ns>.svc.cluster.local |
| ports                                           | published on 127.0.0.1 (for the probes/tests)|
| readinessProbe / startupProbe                   | polled by `wait_ready` (httpGet, tcpSocket,  |
|                                                 | exec)                                        |

Refused with a message naming the workload: more than one container a pod, initContainers,
volumes other than secret/configMap/emptyDir, privileged containers, a Service whose port
differs from its target port (a network alias cannot remap a port), and URLs in env values
that name a cluster host no Service provides (`unresolved_hosts`).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

Manifest = dict[str, Any]
# (namespace, name) -> key -> value, for Secrets and ConfigMaps alike.
KeyedData = Mapping[tuple[str, str], Mapping[str, str]]
CLUSTER_DOMAIN = "svc.cluster.local"


class TranslationError(ValueError):
    """The manifest asks for something this translator (or the kubelet) would refuse."""


@dataclass(frozen=True)
class Probe:
    kind: str  # httpGet | tcpSocket | exec
    port: int | None = None
    path: str = "/"
    command: tuple[str, ...] = ()
    period_s: float = 10.0


@dataclass(frozen=True)
class VolumeFile:
    """A file of a secret or configMap volume: where, with which mode; the text is hidden."""

    path: PurePosixPath  # inside the container
    text: str = field(repr=False)
    mode: int
    gid: int | None


@dataclass(frozen=True)
class ContainerRun:
    """One pod's container, ready to become `docker run` arguments."""

    workload: str  # namespace/deployment
    name: str  # the container name on the engine
    image: str
    entrypoint: str | None
    arguments: tuple[str, ...]
    env: Mapping[str, str] = field(repr=False)
    user: str | None
    group_add: tuple[int, ...]
    read_only: bool
    cap_drop: tuple[str, ...]
    cap_add: tuple[str, ...]
    no_new_privileges: bool
    tmpfs: tuple[str, ...]
    files: tuple[VolumeFile, ...]
    read_only_dirs: tuple[PurePosixPath, ...]  # the mount points of secret/configMap volumes
    aliases: tuple[str, ...]
    ports: Mapping[str, int]  # containerPort by name (or by its number, unnamed)
    readiness: Probe | None
    stop_timeout_s: int | None
    memory: str | None
    cpus: str | None
    pre_stop_sleep_s: int = 0
    image_substituted: str | None = None  # the rendered image, when a stand-in replaced it


def _labels_match(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def service_aliases(name: str, namespace: str) -> tuple[str, ...]:
    """The DNS names a pod resolves a Service by (cluster domain cluster.local)."""
    return (
        name,
        f"{name}.{namespace}",
        f"{name}.{namespace}.svc",
        f"{name}.{namespace}.{CLUSTER_DOMAIN}",
    )


def _expand(text: str, env: Mapping[str, str]) -> str:
    """The kubelet's $(VAR) expansion: a defined VAR is replaced, $$ is a literal $, and an
    undefined reference stays as written."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", replace, text)


def _lookup(
    data: KeyedData, kind: str, namespace: str, ref: Mapping[str, Any], workload: str, what: str
) -> str | None:
    name, key = str(ref.get("name", "")), str(ref.get("key", ""))
    entry = data.get((namespace, name))
    optional = bool(ref.get("optional", False))
    if entry is None:
        if optional:
            return None
        raise TranslationError(f"{workload}: {what}: {kind} {namespace}/{name} does not exist")
    if key not in entry:
        if optional:
            return None
        known = ", ".join(sorted(entry)) or "none"
        raise TranslationError(
            f"{workload}: {what}: {kind} {namespace}/{name} has no key {key!r} (keys: {known})"
        )
    return entry[key]


def _env(
    container: Mapping[str, Any],
    namespace: str,
    pod_name: str,
    secrets: KeyedData,
    config_maps: KeyedData,
    workload: str,
) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = str(source.get("prefix", ""))
        for kind, data, field_name in (
            ("Secret", secrets, "secretRef"),
            ("ConfigMap", config_maps, "configMapRef"),
        ):
            ref = source.get(field_name)
            if ref is None:
                continue
            entry = data.get((namespace, str(ref.get("name"))))
            if entry is None and not ref.get("optional", False):
                raise TranslationError(
                    f"{workload}: envFrom: {kind} {namespace}/{ref.get('name')} does not exist"
                )
            env.update({prefix + key: value for key, value in (entry or {}).items()})
    for item in container.get("env") or []:
        name = str(item["name"])
        what = f"env {name}"
        if "value" in item:
            env[name] = _expand(str(item["value"]), env)
            continue
        source = item.get("valueFrom") or {}
        value: str | None
        if "secretKeyRef" in source:
            value = _lookup(secrets, "Secret", namespace, source["secretKeyRef"], workload, what)
        elif "configMapKeyRef" in source:
            value = _lookup(
                config_maps, "ConfigMap", namespace, source["configMapKeyRef"], workload, what
            )
        elif "fieldRef" in source:
            path = source["fieldRef"].get("fieldPath")
            fields = {"metadata.name": pod_name, "metadata.namespace": namespace}
            if path not in fields:
                raise TranslationError(f"{workload}: {what}: fieldRef {path} is not supported")
            value = fields[path]
        else:
            raise TranslationError(f"{workload}: {what}: valueFrom {sorted(source)} not supported")
        if value is not None:
            env[name] = value
    return env


def _volume_mounts(
    container: Mapping[str, Any],
    volumes: Mapping[str, Mapping[str, Any]],
    namespace: str,
    fs_group: int | None,
    secrets: KeyedData,
    config_maps: KeyedData,
    workload: str,
) -> tuple[list[str], list[VolumeFile], list[PurePosixPath]]:
    tmpfs: list[str] = []
    files: list[VolumeFile] = []
    directories: list[PurePosixPath] = []
    for mount in container.get("volumeMounts") or []:
        target = PurePosixPath(str(mount["mountPath"]))
        if mount.get("subPath"):
            raise TranslationError(f"{workload}: volumeMount {target}: subPath is not supported")
        volume = volumes.get(str(mount["name"]))
        if volume is None:
            raise TranslationError(f"{workload}: volumeMount {target}: no volume {mount['name']}")
        if "emptyDir" in volume:
            options = ["rw", "mode=1777"]
            size = (volume["emptyDir"] or {}).get("sizeLimit")
            if size:
                options.append(f"size={_docker_size(str(size))}")
            tmpfs.append(f"{target}:{','.join(options)}")
            continue
        for kind, data, key in (
            ("Secret", secrets, "secret"),
            ("ConfigMap", config_maps, "configMap"),
        ):
            if key not in volume:
                continue
            spec = volume[key]
            name = str(spec.get("secretName") if key == "secret" else spec.get("name"))
            entry = data.get((namespace, name))
            if entry is None:
                raise TranslationError(
                    f"{workload}: volume {mount['name']}: {kind} {namespace}/{name} does not exist"
                )
            default_mode = int(spec.get("defaultMode", 0o644))
            items = spec.get("items") or [{"key": k, "path": k} for k in sorted(entry)]
            for item in items:
                if item["key"] not in entry:
                    known = ", ".join(sorted(entry))
                    raise TranslationError(
                        f"{workload}: volume {mount['name']}: {kind} {namespace}/{name} has no "
                        f"key {item['key']!r} (keys: {known})"
                    )
                files.append(
                    VolumeFile(
                        target / str(item["path"]),
                        entry[item["key"]],
                        int(item.get("mode", default_mode)),
                        fs_group,
                    )
                )
            directories.append(target)
            break
        else:
            raise TranslationError(
                f"{workload}: volume {mount['name']}: only secret, configMap and emptyDir "
                f"volumes are supported, not {sorted(volume)}"
            )
    return tmpfs, files, directories


def _docker_size(quantity: str) -> str:
    """A Kubernetes quantity (16Mi, 1Gi, 200M) as Docker reads it (binary units)."""
    units = {"Ki": "k", "Mi": "m", "Gi": "g", "K": "k", "M": "m", "G": "g"}
    for suffix, docker_unit in units.items():
        if quantity.endswith(suffix):
            return quantity[: -len(suffix)] + docker_unit
    return quantity


def _cpus(quantity: str) -> str:
    return str(int(quantity[:-1]) / 1000) if quantity.endswith("m") else quantity


def _port_number(port: Any, ports: Mapping[str, int], workload: str, what: str) -> int:
    if isinstance(port, int):
        return port
    if str(port) in ports:
        return ports[str(port)]
    raise TranslationError(f"{workload}: {what}: no container port named {port!r}")


def _probe(container: Mapping[str, Any], ports: Mapping[str, int], workload: str) -> Probe | None:
    for field_name in ("readinessProbe", "startupProbe"):
        spec = container.get(field_name)
        if not spec:
            continue
        period = float(spec.get("periodSeconds", 10))
        if "httpGet" in spec:
            get = spec["httpGet"]
            port = _port_number(get["port"], ports, workload, field_name)
            return Probe("httpGet", port, str(get.get("path", "/")), period_s=period)
        if "tcpSocket" in spec:
            port = _port_number(spec["tcpSocket"]["port"], ports, workload, field_name)
            return Probe("tcpSocket", port, period_s=period)
        if "exec" in spec:
            command = tuple(str(part) for part in spec["exec"]["command"])
            return Probe("exec", command=command, period_s=period)
    return None


def _service_ports(
    service: Manifest, ports: Mapping[str, int], workload: str
) -> list[tuple[int, int]]:
    found = []
    for port in service["spec"].get("ports") or []:
        number = int(port["port"])
        target = _port_number(port.get("targetPort", number), ports, workload, "Service")
        found.append((number, target))
    return found


def translate(
    deployment: Manifest,
    services: Sequence[Manifest],
    secrets: KeyedData,
    config_maps: KeyedData,
    images: Mapping[str, str],
    name_prefix: str,
) -> ContainerRun:
    """The one container of a Deployment's pod, as a ContainerRun. `images` maps a rendered
    image to the one that runs instead (a stand-in); others run as rendered."""
    metadata = deployment["metadata"]
    namespace, name = str(metadata.get("namespace", "default")), str(metadata["name"])
    workload = f"{namespace}/{name}"
    pod = deployment["spec"]["template"]
    spec = pod["spec"]
    if spec.get("initContainers"):
        raise TranslationError(f"{workload}: initContainers are not supported")
    containers = spec.get("containers") or []
    if len(containers) != 1:
        raise TranslationError(f"{workload}: expected one container a pod, found {len(containers)}")
    container = containers[0]
    pod_security = spec.get("securityContext") or {}
    security = {**pod_security, **(container.get("securityContext") or {})}
    if security.get("privileged"):
        raise TranslationError(f"{workload}: privileged containers are not supported")
    fs_group = pod_security.get("fsGroup")
    container_name = f"{name_prefix}-{name}"

    env = _env(container, namespace, container_name, secrets, config_maps, workload)
    command = [_expand(str(part), env) for part in container.get("command") or []]
    args = [_expand(str(part), env) for part in container.get("args") or []]
    entrypoint = command[0] if command else None
    arguments = (*command[1:], *args) if command else tuple(args)

    ports: dict[str, int] = {}
    for port in container.get("ports") or []:
        number = int(port["containerPort"])
        ports[str(port.get("name") or number)] = number

    labels = pod.get("metadata", {}).get("labels") or {}
    aliases: list[str] = []
    for service in services:
        service_namespace = service["metadata"].get("namespace", "default")
        selector = service["spec"].get("selector") or {}
        if service_namespace != namespace or not _labels_match(selector, labels):
            continue
        service_name = str(service["metadata"]["name"])
        for number, target in _service_ports(service, ports, workload):
            if number != target:
                raise TranslationError(
                    f"{workload}: Service {service_namespace}/{service_name} maps port {number} "
                    f"to {target}; a network alias cannot remap a port"
                )
        aliases.extend(service_aliases(service_name, namespace))

    user = None
    if "runAsUser" in security:
        user = str(security["runAsUser"])
        if "runAsGroup" in security:
            user += f":{security['runAsGroup']}"
    tmpfs, files, directories = _volume_mounts(
        container,
        {str(v["name"]): v for v in spec.get("volumes") or []},
        namespace,
        fs_group,
        secrets,
        config_maps,
        workload,
    )
    capabilities = security.get("capabilities") or {}
    limits = (container.get("resources") or {}).get("limits") or {}
    pre_stop = ((container.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}
    rendered_image = str(container["image"])
    grace = spec.get("terminationGracePeriodSeconds")
    return ContainerRun(
        workload=workload,
        name=container_name,
        image=images.get(rendered_image, rendered_image),
        entrypoint=entrypoint,
        arguments=tuple(arguments),
        env=env,
        user=user,
        group_add=(int(fs_group),) if fs_group is not None else (),
        read_only=bool(security.get("readOnlyRootFilesystem", False)),
        cap_drop=tuple(str(c) for c in capabilities.get("drop") or []),
        cap_add=tuple(str(c) for c in capabilities.get("add") or []),
        no_new_privileges=security.get("allowPrivilegeEscalation") is False,
        tmpfs=tuple(tmpfs),
        files=tuple(files),
        read_only_dirs=tuple(directories),
        aliases=tuple(aliases),
        ports=ports,
        readiness=_probe(container, ports, workload),
        stop_timeout_s=int(grace) if grace is not None else None,
        memory=_docker_size(str(limits["memory"])) if "memory" in limits else None,
        cpus=_cpus(str(limits["cpu"])) if "cpu" in limits else None,
        pre_stop_sleep_s=int(pre_stop.get("seconds", 0)),
        image_substituted=rendered_image if rendered_image in images else None,
    )


def run_as_non_root_problem(
    run: ContainerRun, image_user: str, run_as_non_root: bool
) -> str | None:
    """What the kubelet says when runAsNonRoot meets a root user (the image's USER when the
    manifest sets no runAsUser); None when it would start."""
    if not run_as_non_root:
        return None
    user = (run.user or image_user or "0").split(":", 1)[0]
    if not user.isdigit():
        return f"{run.workload}: runAsNonRoot with a non-numeric image user {user!r}"
    if int(user) == 0:
        return f"{run.workload}: runAsNonRoot, but the container would run as root (uid 0)"
    return None


def runs_as_non_root(deployment: Manifest) -> bool:
    spec = deployment["spec"]["template"]["spec"]
    container = (spec.get("containers") or [{}])[0]
    security = {**(spec.get("securityContext") or {}), **(container.get("securityContext") or {})}
    return bool(security.get("runAsNonRoot", False))


_URL = re.compile(r"^[a-z][a-z0-9+.-]*://")


def unresolved_hosts(
    runs: Iterable[ContainerRun], provided: Mapping[str, Iterable[int]]
) -> list[str]:
    """Env values that are URLs naming a cluster host (a *.svc.cluster.local or *.svc name, or
    a Service's short name) that nothing on the network provides at that port. `provided`:
    alias -> ports, from the translated Services and any stand-ins."""
    runs = list(runs)
    ports_by_alias = {alias: set(ports) for alias, ports in provided.items()}
    problems = []
    for run in runs:
        for name, value in sorted(run.env.items()):
            if not _URL.match(value):
                continue
            parts = urllib.parse.urlsplit(value)
            host, port = parts.hostname, parts.port
            if host is None or ("." in host and not host.endswith((".svc", f".{CLUSTER_DOMAIN}"))):
                continue  # an outside address (the real APIs): not this network's business
            if port is None:
                port = {"http": 80, "https": 443, "redis": 6379}.get(parts.scheme)
            if host in ports_by_alias and port in ports_by_alias[host]:
                continue
            known = ", ".join(
                f"{alias}:{p}"
                for alias, ports in sorted(ports_by_alias.items())
                if alias.endswith(CLUSTER_DOMAIN)
                for p in sorted(ports)
            )
            problems.append(
                f"{run.workload}: {name} names {host}:{port}, which no Service provides "
                f"(provided: {known})"
            )
    return problems


def provided_ports(
    runs: Iterable[ContainerRun], services: Sequence[Manifest]
) -> dict[str, set[int]]:
    """alias -> the ports a Service offers under it, for the translated runs."""
    provided: dict[str, set[int]] = {}
    by_alias = {alias: run for run in runs for alias in run.aliases}
    for service in services:
        namespace = service["metadata"].get("namespace", "default")
        for alias in service_aliases(str(service["metadata"]["name"]), namespace):
            if alias in by_alias:
                ports = {int(p["port"]) for p in service["spec"].get("ports") or []}
                provided.setdefault(alias, set()).update(ports)
    return provided


def docker_run_args(run: ContainerRun, network: str, volume_dir: str) -> list[str]:
    """`docker run` arguments for a ContainerRun (env values are passed by name only: the
    caller puts them in the CLI's environment). `volume_dir` holds the volume files, laid
    out under their container paths."""
    args = ["run", "--detach", "--name", run.name, "--hostname", run.name, "--pull", "never"]
    args += ["--network", network]
    args += [f"--network-alias={alias}" for alias in run.aliases]
    for number in sorted(set(run.ports.values())):
        args += ["--publish", f"127.0.0.1::{number}"]
    args += [f"--env={name}" for name in sorted(run.env)]
    if run.user:
        args += ["--user", run.user]
    args += [f"--group-add={gid}" for gid in run.group_add]
    if run.read_only:
        args.append("--read-only")
    args += [f"--cap-drop={cap}" for cap in run.cap_drop]
    args += [f"--cap-add={cap}" for cap in run.cap_add]
    if run.no_new_privileges:
        args += ["--security-opt", "no-new-privileges"]
    args += [f"--tmpfs={spec}" for spec in run.tmpfs]
    for directory in run.read_only_dirs:
        args += ["--volume", f"{volume_dir}{directory}:{directory}:ro"]
    if run.stop_timeout_s is not None:
        args += ["--stop-timeout", str(run.stop_timeout_s)]
    if run.memory:
        args += ["--memory", run.memory]
    if run.cpus:
        args += ["--cpus", run.cpus]
    if run.entrypoint is not None:
        args += ["--entrypoint", run.entrypoint]
    return [*args, run.image, *run.arguments]
