"""verify's questions and its report, over recorded Langfuse answers and the protocol fake."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from platform_deploy.config.deploy_settings import DeploySettings, ServiceRef
from platform_deploy.config.environments import EnvironmentName
from platform_deploy.engine.redaction import Redactor
from platform_deploy.engine.verification import probe_seconds
from platform_deploy.engine.verify import Verifier
from tests.unit.platform_deploy.engine.fakes import FakeCluster

RECORDED = Path(__file__).parent / "recorded"
CLIENT_KEY = "sk-gw-RecordedClientKeyForUnitTests0123456789"
PUBLIC, SECRET = (
    "pk-lf-11111111-2222-4333-8444-555555555555",
    "sk-lf-66666666-7777-4888-9999-000000000000",
)


def _secret(namespace: str, name: str, data: Mapping[str, str]) -> dict[str, Any]:
    return {
        "kind": "Secret",
        "metadata": {"namespace": namespace, "name": name},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


class GatewayCluster(FakeCluster):
    """Answers the gateway as the running platform did: 200, then the upstream 500."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[dict[str, Any]] = []

    def http(
        self,
        service: ServiceRef,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes | None,
    ) -> tuple[int, bytes]:
        self.requests.append({"headers": dict(headers), "body": json.loads(body or b"{}")})
        if "status=500" in json.dumps(json.loads(body or b"{}")):
            return 500, b'{"error": {"message": "upstream"}}'
        answer = {
            "model": "claude-sonnet",
            "choices": [{"message": {"role": "assistant", "content": "ready"}}],
            "usage": {"total_tokens": 21},
        }
        return 200, json.dumps(answer).encode()


def _langfuse(calls: list[str]) -> Any:
    traces = json.loads((RECORDED / "langfuse_traces.json").read_text())
    good = json.loads((RECORDED / "langfuse_observations.json").read_text())
    error = json.loads((RECORDED / "langfuse_observations_error.json").read_text())

    def call(
        method: str, path: str, headers: Mapping[str, str], body: bytes | None
    ) -> tuple[int, bytes]:
        calls.append(path)
        expected = base64.b64encode(f"{PUBLIC}:{SECRET}".encode()).decode()
        if headers.get("Authorization") != f"Basic {expected}":
            return 401, b"{}"
        if path.startswith("/api/public/traces"):
            session = path.split("sessionId=")[1]
            answer = dict(traces)
            answer["data"] = [{**traces["data"][0], "sessionId": session, "id": session}]
            return 200, json.dumps(answer).encode()
        return 200, json.dumps(error if "error" in path else good).encode()

    return call


def test_verification_asks_the_right_questions_and_passes(
    settings: dict[EnvironmentName, DeploySettings],
) -> None:
    cluster = GatewayCluster()
    cluster.objects[("Secret", "default", "gateway-test-client")] = _secret(
        "default", "gateway-test-client", {"api-key": CLIENT_KEY}
    )
    cluster.objects[("Secret", "default", "langfuse-credentials")] = _secret(
        "default",
        "langfuse-credentials",
        {"LANGFUSE_PUBLIC_KEY": PUBLIC, "LANGFUSE_SECRET_KEY": SECRET},
    )
    calls: list[str] = []
    output: list[str] = []
    redactor = Redactor()
    checks = Verifier(
        settings["ci"], cluster, _langfuse(calls), redactor, output.append, sleep=lambda _s: None
    ).run()
    assert [c.name for c in checks if not c.ok] == []
    assert len(checks) == 4 + len(settings["ci"].verify.probes)
    # Each probe pod gets a minute and more to start, beyond its command's retries.
    for probe in settings["ci"].verify.probes:
        assert cluster.probe_timeouts[probe.name] >= probe_seconds(probe) + 60
    first, failing = cluster.requests
    session = first["headers"]["X-Session-Id"]
    assert session.startswith("verify-")
    assert failing["headers"]["X-Session-Id"] == f"{session}-error"
    assert failing["body"]["messages"][0]["content"] == "status=500"
    assert first["headers"]["Authorization"] == f"Bearer {CLIENT_KEY}"
    assert f"/api/public/traces?sessionId={session}" in calls
    assert any(c.startswith("/api/public/observations?traceId=") for c in calls)
    # Keys read for verification are known to the redactor at once.
    assert CLIENT_KEY not in redactor.redact(f"Bearer {CLIENT_KEY}")


class DownCluster(GatewayCluster):
    def http(
        self,
        service: ServiceRef,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes | None,
    ) -> tuple[int, bytes]:
        raise ConnectionError(f"no ready pod; header was {headers.get('Authorization')}")


def test_an_unreachable_gateway_is_a_failed_check_and_no_key_is_printed(
    settings: dict[EnvironmentName, DeploySettings],
) -> None:
    cluster = DownCluster()
    cluster.objects[("Secret", "default", "gateway-test-client")] = _secret(
        "default", "gateway-test-client", {"api-key": CLIENT_KEY}
    )
    cluster.objects[("Secret", "default", "langfuse-credentials")] = _secret(
        "default",
        "langfuse-credentials",
        {"LANGFUSE_PUBLIC_KEY": PUBLIC, "LANGFUSE_SECRET_KEY": SECRET},
    )
    output: list[str] = []
    ticks = iter(range(0, 10000, 100))
    checks = Verifier(
        settings["ci"],
        cluster,
        _langfuse([]),
        Redactor(),
        output.append,
        clock=lambda: float(next(ticks)),
        sleep=lambda _s: None,
    ).run()
    failed = {c.name for c in checks if not c.ok}
    assert "chat completion through the gateway" in failed
    assert any("not reached" in line for line in output)
    assert not any(CLIENT_KEY in line for line in output)
