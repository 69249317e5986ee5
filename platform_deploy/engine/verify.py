"""`verify`: every rollout ready, a completion through the gateway, its trace in Langfuse
(public API, polled), an ERROR observation for a failing request, NetworkPolicy probes.
The decisions are verification.py's; this module only asks the questions."""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from platform_deploy.config.deploy_settings import DeploySettings, SecretKeyRef, ServiceRef
from platform_deploy.engine.cluster import Cluster
from platform_deploy.engine.redaction import Redactor
from platform_deploy.engine.secret_decisions import decode_secret
from platform_deploy.engine.verification import (
    Check,
    completion_check,
    error_observation_check,
    failing_request_check,
    probe_check,
    probe_seconds,
    rollout_check,
    trace_check,
)

_POLL_INTERVAL_S = 5
# How long a probe pod may take to be scheduled and started, on top of its command's own
# longest run (verification.probe_seconds).
_PROBE_POD_START_S = 115


class Http(Protocol):
    def __call__(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes | None
    ) -> tuple[int, bytes]: ...


class VerifyError(RuntimeError):
    """A value verification needs is missing (a key's Secret or environment variable)."""


def through_cluster(cluster: Cluster, service: ServiceRef) -> Http:
    def call(
        method: str, path: str, headers: Mapping[str, str], body: bytes | None
    ) -> tuple[int, bytes]:
        return cluster.http(service, method, path, headers, body)

    return call


def at_url(base_url: str) -> Http:
    def call(
        method: str, path: str, headers: Mapping[str, str], body: bytes | None
    ) -> tuple[int, bytes]:
        request = urllib.request.Request(  # noqa: S310  (https URL from environments.yaml)
            base_url.rstrip("/") + path, data=body, headers=dict(headers), method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as error:
            return int(error.code), bytes(error.read())

    return call


def resolve(cluster: Cluster, ref: SecretKeyRef, redactor: Redactor) -> dict[str, str]:
    """A Secret's values (or one environment variable's, under its name), registered with
    the redactor before anything else sees them."""
    if ref.from_env is not None:
        value = os.environ.get(ref.from_env)
        if not value:
            raise VerifyError(f"set {ref.from_env}: verification needs it")
        redactor.register(value)
        return {ref.from_env: value}
    if ref.secret is None or ref.namespace is None:
        raise VerifyError("a key reference names neither a Secret nor a variable")
    secret = cluster.read_secret(ref.namespace, ref.secret)
    if secret is None:
        raise VerifyError(f"Secret {ref.namespace}/{ref.secret} does not exist")
    values = decode_secret(secret)
    for value in values.values():
        redactor.register(value)
    return values


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


@dataclass
class Verifier:
    settings: DeploySettings
    cluster: Cluster
    langfuse: Http
    redactor: Redactor
    say: Callable[[str], None]
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def _chat(self, key: str, session: str, content: str, max_tokens: int) -> tuple[int, Any]:
        body = {
            "model": self.settings.verify.model,
            "messages": [{"role": "user", "content": content}],
            "max_tokens": max_tokens,
        }
        headers = {
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "X-Session-Id": session,
            "X-User-Id": "platform-verify",
        }
        try:
            status, raw = self.cluster.http(
                self.settings.verify.gateway,
                "POST",
                "/v1/chat/completions",
                headers,
                json.dumps(body).encode(),
            )
        except Exception as error:
            # Unreachable is a failed check in the table, not an aborted verification.
            self.say(f"gateway not reached: {self.redactor.error_message(error)}")
            return 0, None
        return status, _json(raw)

    def _langfuse_get(self, auth: str, path: str, query: Mapping[str, str]) -> Any:
        headers = {"Authorization": f"Basic {auth}"}
        try:
            status, raw = self.langfuse(
                "GET", f"{path}?{urllib.parse.urlencode(query)}", headers, None
            )
        except Exception as error:
            self.say(f"Langfuse not reached: {self.redactor.error_message(error)}")
            return None
        if status != 200:
            self.say(f"Langfuse {path}: HTTP {status}")
            return None
        return _json(raw)

    def _poll_trace(self, auth: str, session: str, judge: Callable[[Any, Any], Check]) -> Check:
        deadline = self.clock() + self.settings.verify.trace_timeout_s
        check = Check("trace", False, "not polled")
        while True:
            traces = self._langfuse_get(auth, "/api/public/traces", {"sessionId": session}) or {}
            observations = None
            for trace in traces.get("data") or []:
                observations = self._langfuse_get(
                    auth, "/api/public/observations", {"traceId": str(trace.get("id"))}
                )
            check = judge(traces, observations)
            if check.ok or self.clock() >= deadline:
                return check
            self.sleep(_POLL_INTERVAL_S)

    def run(self) -> list[Check]:
        verify = self.settings.verify
        checks = [rollout_check(w) for w in self.cluster.workloads(self.settings.namespaces)]
        key_values = resolve(self.cluster, verify.gateway_key, self.redactor)
        gateway_key = key_values[verify.gateway_key.key or verify.gateway_key.from_env or ""]
        pair = resolve(self.cluster, verify.langfuse_keys, self.redactor)
        auth = base64.b64encode(
            f"{pair['LANGFUSE_PUBLIC_KEY']}:{pair['LANGFUSE_SECRET_KEY']}".encode()
        ).decode()
        self.redactor.register(auth)
        session = f"verify-{uuid.uuid4().hex[:12]}"
        self.say(f"session {session}")
        status, body = self._chat(gateway_key, session, "Reply with one word: ready.", 16)
        checks.append(completion_check(status, body if isinstance(body, dict) else None))
        checks.append(self._poll_trace(auth, session, lambda t, o: trace_check(session, t, o)))
        failing = f"{session}-error"
        status, _ = self._chat(
            gateway_key,
            failing,
            verify.failing_message or "This request is meant to fail.",
            verify.failing_max_tokens if verify.failing_max_tokens is not None else 16,
        )
        checks.append(failing_request_check(status))
        checks.append(
            self._poll_trace(auth, failing, lambda _t, o: error_observation_check(failing, o))
        )
        for probe in verify.probes:
            try:
                timeout = _PROBE_POD_START_S + probe_seconds(probe)
                code, detail = self.cluster.run_probe(probe, verify.probe_image, timeout)
            except Exception as error:
                code, detail = None, self.redactor.error_message(error)[:120]
            checks.append(probe_check(probe, code, detail))
        return checks
