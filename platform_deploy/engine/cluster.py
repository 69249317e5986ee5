"""The cluster: a protocol the engine talks to, and its implementation with the kubernetes
Python client. Objects go in and come out in the API's JSON shape (camelCase dicts), the
same shape the unit tests' recorded answers have.
"""

from __future__ import annotations

import contextlib
import http.client
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from platform_deploy.config.deploy_settings import Probe, ServiceRef
from platform_deploy.engine.identity import ObservedCluster
from platform_deploy.engine.verification import probe_command

FIELD_MANAGER = "platform-deploy"


class ClusterUnreachable(RuntimeError):
    """The API server did not answer, or the kubeconfig does not lead to one."""


class KubeconfigMissing(RuntimeError):
    """The kubeconfig file named does not exist."""


class KindUnknown(RuntimeError):
    """The API server does not serve a kind the deploy applies (its operator is missing)."""


class Cluster(Protocol):
    def identity(self) -> ObservedCluster: ...

    def get(self, manifest: Mapping[str, Any]) -> dict[str, Any] | None: ...

    def apply(self, manifest: Mapping[str, Any], dry_run: bool) -> dict[str, Any]: ...

    def create_if_absent(self, manifest: Mapping[str, Any]) -> bool: ...

    def delete(self, manifest: Mapping[str, Any]) -> None: ...

    def read_secret(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def list_secrets(self, namespace: str) -> list[dict[str, Any]]: ...

    def workloads(self, namespaces: Sequence[str]) -> list[dict[str, Any]]: ...

    def exec_in_pod(
        self, namespace: str, selector: str, container: str, command: list[str], stdin: str
    ) -> str: ...

    def run_probe(self, probe: Probe, image: str, timeout_s: int) -> tuple[int | None, str]: ...

    def http(
        self,
        service: ServiceRef,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes | None,
    ) -> tuple[int, bytes]: ...


def _api_errors() -> tuple[type[BaseException], ...]:
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    return (HTTPError, OSError, ApiException)


class KubeCluster:
    """The kubernetes client (v31+) against the kubeconfig's cluster."""

    def __init__(self, kubeconfig: Path | None, context: str | None) -> None:
        from kubernetes import client, config
        from kubernetes.dynamic import DynamicClient

        if kubeconfig is not None and not kubeconfig.is_file():
            raise KubeconfigMissing(f"no kubeconfig at {kubeconfig}")
        try:
            self._api = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=str(kubeconfig) if kubeconfig else None, context=context
            )
        except config.ConfigException as error:
            raise ClusterUnreachable(f"kubeconfig: {error}") from None
        self._core = client.CoreV1Api(self._api)
        self._apps = client.AppsV1Api(self._api)
        # The dynamic client (server-side apply of any kind) is untyped; discovery runs on
        # first use, so a plan that applies nothing never pays for it.
        self._dynamic: Any = None
        self._dynamic_class: Any = DynamicClient

    def _json(self, obj: Any) -> dict[str, Any]:
        result = self._api.sanitize_for_serialization(obj)
        return dict(result) if isinstance(result, Mapping) else {}

    def _resource(self, manifest: Mapping[str, Any]) -> Any:
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        if self._dynamic is None:
            self._dynamic = self._dynamic_class(self._api)
        try:
            return self._dynamic.resources.get(
                api_version=manifest["apiVersion"], kind=manifest["kind"]
            )
        except ResourceNotFoundError:
            raise KindUnknown(
                f"the cluster serves no {manifest['apiVersion']} {manifest['kind']}: install "
                "what provides it first (External Secrets Operator 2.9.0 for external-secrets.io)"
            ) from None

    def identity(self) -> ObservedCluster:
        host = str(self._api.configuration.host)
        try:
            namespace = self._core.read_namespace("kube-system", _request_timeout=15)
        except _api_errors() as error:
            raise ClusterUnreachable(f"the API server at {host} did not answer: {error}") from None
        uid = namespace.metadata.uid if namespace.metadata else None
        return ObservedCluster(api_server=host, kube_system_uid=str(uid))

    def get(self, manifest: Mapping[str, Any]) -> dict[str, Any] | None:
        from kubernetes.dynamic.exceptions import NotFoundError

        metadata = manifest["metadata"]
        try:
            found = self._resource(manifest).get(
                name=metadata["name"], namespace=metadata.get("namespace")
            )
        except NotFoundError:
            return None
        return dict(found.to_dict())

    def apply(self, manifest: Mapping[str, Any], dry_run: bool) -> dict[str, Any]:
        """Server-side apply: a rerun with the same manifest changes nothing. Conflicts are
        forced because this engine owns these objects' fields."""
        resource = self._resource(manifest)
        metadata = manifest["metadata"]
        applied = resource.server_side_apply(
            body=dict(manifest),
            name=metadata["name"],
            namespace=metadata.get("namespace"),
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
            dry_run="All" if dry_run else None,
        )
        return dict(applied.to_dict())

    def create_if_absent(self, manifest: Mapping[str, Any]) -> bool:
        """Create; an object that exists (409) is left exactly as it is."""
        from kubernetes.dynamic.exceptions import ConflictError

        metadata = manifest["metadata"]
        try:
            self._resource(manifest).create(
                body=dict(manifest), namespace=metadata.get("namespace")
            )
        except ConflictError:
            return False
        return True

    def delete(self, manifest: Mapping[str, Any]) -> None:
        from kubernetes.dynamic.exceptions import NotFoundError

        metadata = manifest["metadata"]
        with contextlib.suppress(NotFoundError):
            self._resource(manifest).delete(
                name=metadata["name"], namespace=metadata.get("namespace")
            )

    def read_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            return self._json(self._core.read_namespaced_secret(name, namespace))
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def list_secrets(self, namespace: str) -> list[dict[str, Any]]:
        answer = self._json(self._core.list_namespaced_secret(namespace))
        return list(answer.get("items") or [])

    def workloads(self, namespaces: Sequence[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for namespace in namespaces:
            for kind, listing in (
                ("Deployment", self._apps.list_namespaced_deployment(namespace)),
                ("StatefulSet", self._apps.list_namespaced_stateful_set(namespace)),
            ):
                for item in self._json(listing).get("items") or []:
                    found.append({**item, "kind": kind})
        return found

    def _ready_pod(self, namespace: str, selector: str) -> Any:
        pods = self._core.list_namespaced_pod(namespace, label_selector=selector).items
        for pod in pods:
            conditions = (pod.status.conditions if pod.status else None) or []
            if any(c.type == "Ready" and c.status == "True" for c in conditions):
                return pod
        raise ClusterUnreachable(f"no ready pod in {namespace} matches {selector}")

    def exec_in_pod(
        self, namespace: str, selector: str, container: str, command: list[str], stdin: str
    ) -> str:
        """Run a command in a ready pod; secrets go in on stdin, never in the argv (which
        the pod's process list shows)."""
        from kubernetes.stream import stream

        pod = self._ready_pod(namespace, selector)
        session = stream(
            self._core.connect_get_namespaced_pod_exec,
            pod.metadata.name,
            namespace,
            container=container,
            command=command,
            stdin=True,
            stdout=True,
            stderr=True,
            tty=False,
            _preload_content=False,
        )
        session.write_stdin(stdin)
        output: list[str] = []
        deadline = time.monotonic() + 30
        while session.is_open() and time.monotonic() < deadline:
            session.update(timeout=1)
            # Only what has arrived: read_stdout without data would block until the timeout.
            if session.peek_stdout():
                output.append(session.read_stdout())
            if session.peek_stderr():
                output.append(session.read_stderr())
        session.close()
        return "".join(output)

    def run_probe(self, probe: Probe, image: str, timeout_s: int) -> tuple[int | None, str]:
        """A pod with the probe's labels tries to connect (verification.probe_command: once
        for a "closed" probe, retried within a bound for an "open" one), then is deleted."""
        name = f"netprobe-{probe.name}-{int(time.time())}"[:63]
        # A dict body: the client serialises dicts as they are.
        pod: Any = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": probe.namespace, "labels": dict(probe.labels)},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": False,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 65534,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": "probe",
                        "image": image,
                        "command": probe_command(probe),
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]},
                        },
                        "resources": {
                            "requests": {"cpu": "10m", "memory": "16Mi"},
                            "limits": {"cpu": "100m", "memory": "32Mi"},
                        },
                    }
                ],
            },
        }
        self._core.create_namespaced_pod(probe.namespace, pod)
        try:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                status = self._core.read_namespaced_pod(name, probe.namespace).status
                for container in (status.container_statuses if status else None) or []:
                    terminated = container.state.terminated if container.state else None
                    if terminated is not None:
                        return int(terminated.exit_code), str(terminated.reason or "")
                time.sleep(1)
            return None, f"the probe pod did not finish within {timeout_s} s"
        finally:
            self._core.delete_namespaced_pod(name, probe.namespace, grace_period_seconds=0)

    def http(
        self,
        service: ServiceRef,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes | None,
    ) -> tuple[int, bytes]:
        """One HTTP request to a Service's pod through the API server's port-forward: no
        kubectl, no local port, nothing exposed."""
        from kubernetes.stream import portforward

        spec = self._core.read_namespaced_service(service.service, service.namespace).spec
        if spec is None or not spec.selector:
            raise ClusterUnreachable(
                f"Service {service.namespace}/{service.service} selects no pods"
            )
        selector = ",".join(f"{k}={v}" for k, v in sorted(spec.selector.items()))
        target = service.port
        for port in spec.ports or []:
            if port.port == service.port and isinstance(port.target_port, int):
                target = port.target_port
        pod = self._ready_pod(service.namespace, selector)
        forward = portforward(
            self._core.connect_get_namespaced_pod_portforward,
            pod.metadata.name,
            service.namespace,
            ports=str(target),
        )
        connection = http.client.HTTPConnection("localhost", target, timeout=60)
        connection.sock = forward.socket(target)
        connection.sock.setblocking(True)
        try:
            connection.request(method, path, body=body, headers=dict(headers))
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()
            forward.close()
