"""A receiver of Langfuse's OTLP endpoint: a test stand-in for the Langfuse server.

LiteLLM's "langfuse" callback (langfuse 4.x SDK) exports OpenTelemetry spans as OTLP/HTTP
to `{LANGFUSE_HOST}/api/public/otel/v1/traces`, with Basic auth public:secret and the header
`x-langfuse-ingestion-version: 4`. This receiver parses those exports with the real
`opentelemetry-proto` schema and keeps the spans in memory so tests can assert on exactly
what LiteLLM sent. It is not Langfuse and must never be exposed: its `/_receiver/*`
inspection endpoints have no auth.

- `devstack.langfuse_receiver.app`: the aiohttp app (`create_app`), endpoints and fault modes.
- `devstack.langfuse_receiver.otlp`: OTLP protobuf/JSON decoding into span records.
- `devstack.langfuse_receiver.client`: `ReceiverClient`, standard library only.
- `python -m devstack.langfuse_receiver --host 127.0.0.1 --port 3000` runs it.

Importing this package loads only the client, so any test can use it without aiohttp.
"""

from devstack.langfuse_receiver.client import ReceiverClient, ReceiverError, SpanPredicate

__all__ = ["ReceiverClient", "ReceiverError", "SpanPredicate"]
