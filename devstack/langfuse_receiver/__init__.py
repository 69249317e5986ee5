"""A receiver of Langfuse's OTLP endpoint: a test stand-in for the Langfuse server.

LiteLLM's "langfuse" callback (langfuse 4.x SDK) exports OpenTelemetry spans as OTLP/HTTP
to `{LANGFUSE_HOST}/api/public/otel/v1/traces`, with Basic auth public:secret and the header
`x-langfuse-ingestion-version: 4`. This receiver parses those exports with the real
`opentelemetry-proto` schema and keeps the spans in memory so tests can assert on exactly
what LiteLLM sent. It is not Langfuse and must never be exposed: its `/_receiver/*`
inspection endpoints have no auth.

Its inspection endpoints (devstack/README.md has examples):
- `GET /_receiver/spans`: the latest 20 stored spans (DEFAULT_SPANS_LIMIT), oldest first,
  as `{"spans": [...], "matched": N, "limit": 20}`. Filters, all optional and combined:
  `session_id` (the span's session.id or langfuse.session.id), `trace_id` (32 hex digits),
  `name`, `attribute` with an optional `value` (non-strings compare as JSON: "42", "true"),
  and `limit=N` for the latest N matches (0: all). An unknown filter is a 400 naming the
  known ones. `DELETE` forgets every stored span.
- `GET /_receiver/stats`: counters since start; `GET`/`POST /_receiver/mode`: the fault
  mode (normal, hang, error).

- `devstack.langfuse_receiver.app`: the aiohttp app (`create_app`), endpoints and fault modes.
- `devstack.langfuse_receiver.otlp`: OTLP protobuf/JSON decoding into span records.
- `devstack.langfuse_receiver.client`: `ReceiverClient`, standard library only.
- `python -m devstack.langfuse_receiver --host 127.0.0.1 --port 3000` runs it.

Importing this package loads only the client, so any test can use it without aiohttp.
"""

from devstack.langfuse_receiver.client import ReceiverClient, ReceiverError, SpanPredicate

__all__ = ["ReceiverClient", "ReceiverError", "SpanPredicate"]
