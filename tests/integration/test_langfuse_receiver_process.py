"""`python -m devstack.langfuse_receiver` as a real process on 127.0.0.1."""

from __future__ import annotations

import base64
import importlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from devstack.langfuse_receiver import ReceiverClient

REPO_ROOT = Path(__file__).resolve().parents[2]
PUBLIC_KEY = "pk-lf-integration"
SECRET_KEY = "sk-lf-integration-secret"
AUTH = "Basic " + base64.b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode()
LANGFUSE_HEADERS = {"Authorization": AUTH, "x-langfuse-ingestion-version": "4"}
RAW_TRACE_HEX = "4bf92f3577b34da6a3ce929d0e0e4736"

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(**keys: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANGFUSE_")}
    return {**env, **keys}


def _command(port: int) -> list[str]:
    return [sys.executable, "-m", "devstack.langfuse_receiver", "--port", str(port)]


def _export_with_sdk(endpoint: str) -> str | None:
    """Send one span with the real OTLP HTTP exporter; its trace id, or None if not installed.

    Imported by name so mypy does not need the exporter (it is not in the dev group)."""
    try:
        http: Any = importlib.import_module("opentelemetry.exporter.otlp.proto.http")
        exporter_module: Any = importlib.import_module(
            "opentelemetry.exporter.otlp.proto.http.trace_exporter"
        )
        sdk_trace: Any = importlib.import_module("opentelemetry.sdk.trace")
        sdk_export: Any = importlib.import_module("opentelemetry.sdk.trace.export")
    except ImportError:
        return None
    exporter = exporter_module.OTLPSpanExporter(
        endpoint=endpoint, headers=LANGFUSE_HEADERS, timeout=5, compression=http.Compression.Gzip
    )
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(sdk_export.SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("langfuse-sdk", "4.7.0")
    with tracer.start_as_current_span("sdk-span", attributes={"session.id": "sess-sdk"}) as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
    provider.shutdown()
    return trace_id


def _export_raw(endpoint: str) -> None:
    span = Span(
        trace_id=bytes.fromhex(RAW_TRACE_HEX),
        span_id=bytes.fromhex("00f067aa0ba902b7"),
        name="raw-span",
        start_time_unix_nano=1,
        end_time_unix_nano=2,
        attributes=[KeyValue(key="session.id", value=AnyValue(string_value="sess-raw"))],
    )
    message = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                scope_spans=[ScopeSpans(scope=InstrumentationScope(name="raw"), spans=[span])]
            )
        ]
    )
    request = urllib.request.Request(  # noqa: S310 -- a fixed http://127.0.0.1 URL
        endpoint,
        data=message.SerializeToString(),
        headers={**LANGFUSE_HEADERS, "Content-Type": "application/x-protobuf"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/x-protobuf"


def test_receiver_process_round_trip(tmp_path: Path) -> None:
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    endpoint = f"{base_url}/api/public/otel/v1/traces"
    log_path = tmp_path / "receiver.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            _command(port),
            cwd=REPO_ROOT,
            env=_env(LANGFUSE_PUBLIC_KEY=PUBLIC_KEY, LANGFUSE_SECRET_KEY=SECRET_KEY),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        client = ReceiverClient(base_url)
        deadline = time.monotonic() + 20
        while not client.healthy():
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "receiver never became healthy"
            time.sleep(0.05)

        sdk_trace_id = _export_with_sdk(endpoint)
        if sdk_trace_id is not None:
            (sdk_span,) = client.wait_for_spans(trace_id=sdk_trace_id, timeout=10)
            assert sdk_span["name"] == "sdk-span"
            assert sdk_span["attributes"] == {"session.id": "sess-sdk"}
            assert sdk_span["scope"] == {"name": "langfuse-sdk", "version": "4.7.0"}
            assert sdk_span["ingestion_version"] == "4"

        _export_raw(endpoint)
        (raw_span,) = client.wait_for_spans(
            lambda span: span["name"] == "raw-span", attribute="session.id", value="sess-raw"
        )
        assert raw_span["trace_id"] == RAW_TRACE_HEX
        assert raw_span["span_id"] == "00f067aa0ba902b7"
        assert raw_span["parent_span_id"] is None
        # The filters as a person uses them: by session, by trace, the latest N.
        assert client.spans(session_id="sess-raw") == [raw_span]
        assert client.spans(session_id="sess-raw", trace_id="0" * 32) == []
        assert client.spans(limit=1) == [raw_span]  # the latest

        bad = urllib.request.Request(  # noqa: S310 -- a fixed http://127.0.0.1 URL
            endpoint, data=b"", headers={"Content-Type": "application/x-protobuf"}, method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as rejected:
            urllib.request.urlopen(bad, timeout=5)  # noqa: S310
        assert rejected.value.code == 401
        rejected.value.close()

        stats = client.stats()
        expected_spans = 1 if sdk_trace_id is None else 2
        assert (stats["spans"], stats["rejected_auth"]) == (expected_spans, 1)
        assert client.clear() == expected_spans
        assert client.spans() == []
    finally:
        process.terminate()  # SIGTERM to this PID only
        try:
            process.wait(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 0, log_path.read_text()
    log_text = log_path.read_text()
    assert "status=200 spans=1" in log_text
    assert "status=401 spans=0" in log_text
    for secret in (SECRET_KEY, AUTH.split()[1], "sess-raw"):
        assert secret not in log_text


@pytest.mark.parametrize(
    ("keys", "missing"),
    [
        ({}, "LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY"),
        ({"LANGFUSE_PUBLIC_KEY": PUBLIC_KEY}, "LANGFUSE_SECRET_KEY"),
        ({"LANGFUSE_PUBLIC_KEY": PUBLIC_KEY, "LANGFUSE_SECRET_KEY": ""}, "LANGFUSE_SECRET_KEY"),
    ],
)
def test_receiver_refuses_to_start_without_keys(keys: dict[str, str], missing: str) -> None:
    result = subprocess.run(
        _command(_free_port()),
        cwd=REPO_ROOT,
        env=_env(**keys),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"{missing} must be set" in lines[0]
    assert "Traceback" not in result.stderr
