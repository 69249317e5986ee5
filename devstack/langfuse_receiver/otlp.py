"""Decoding of OTLP/HTTP trace exports into plain, JSON-able span records.

Both encodings parse into the real `ExportTraceServiceRequest` of `opentelemetry-proto`:
binary protobuf (`application/x-protobuf`) and OTLP/JSON (`application/json`). OTLP/JSON
differs from the standard protobuf JSON mapping in one way that matters here: trace and span
ids are hex strings, not base64, so they are rewritten before `json_format.Parse`.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterable
from typing import Any, Literal, TypeAlias, TypedDict

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

PROTOBUF: Literal["application/x-protobuf"] = "application/x-protobuf"
JSON: Literal["application/json"] = "application/json"

# A decoded OTLP AnyValue: bytes become lowercase hex, arrays lists, kvlists dicts.
AttrValue: TypeAlias = "str | bool | int | float | list[AttrValue] | dict[str, AttrValue] | None"
Attributes: TypeAlias = dict[str, AttrValue]


class StatusRecord(TypedDict):
    code: str  # "STATUS_CODE_UNSET" | "STATUS_CODE_OK" | "STATUS_CODE_ERROR"
    message: str


class EventRecord(TypedDict):
    name: str
    time_unix_nano: int
    attributes: Attributes


class LinkRecord(TypedDict):
    trace_id: str
    span_id: str
    attributes: Attributes


class ScopeRecord(TypedDict):
    name: str
    version: str


class SpanRecord(TypedDict):
    """One received span, as kept by the receiver and returned by `GET /_receiver/spans`."""

    trace_id: str  # 32 lowercase hex digits
    span_id: str  # 16 lowercase hex digits
    parent_span_id: str | None  # None for a root span
    name: str
    kind: str  # e.g. "SPAN_KIND_INTERNAL"
    start_time_unix_nano: int
    end_time_unix_nano: int
    status: StatusRecord
    attributes: Attributes
    events: list[EventRecord]
    links: list[LinkRecord]
    resource_attributes: Attributes
    scope: ScopeRecord
    ingestion_version: str | None  # the request's x-langfuse-ingestion-version header
    received_at: float  # unix seconds


class OtlpDecodeError(ValueError):
    """The request body is not a valid OTLP trace export; the message names the problem."""


def decode_any_value(value: AnyValue) -> AttrValue:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "array_value":
        return [decode_any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return decode_attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    if kind == "string_value_strindex":  # profiles-only dictionary reference
        return value.string_value_strindex
    return None  # an empty AnyValue


def decode_attributes(pairs: Iterable[KeyValue]) -> Attributes:
    """Decode repeated KeyValue pairs (the last of duplicate keys wins)."""
    result: Attributes = {}
    for pair in pairs:
        result[pair.key] = decode_any_value(pair.value)
    return result


def _enum_name(wrapper: Any, number: int) -> str:
    try:
        return str(wrapper.Name(number))
    except ValueError:
        return str(number)


def _check_id(raw: bytes, size: int, what: str, *, optional: bool = False) -> str:
    if optional and not raw:
        return ""
    if len(raw) != size:
        raise OtlpDecodeError(f"{what} must be {size} bytes, got {len(raw)}")
    return raw.hex()


def _hex_ids_to_base64(node: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    for key in keys:
        for name in (key, _snake(key)):
            text = node.get(name)
            if text is None:
                continue
            if not isinstance(text, str):
                raise OtlpDecodeError(f"{where}.{name} must be a hex string")
            try:
                node[name] = base64.b64encode(bytes.fromhex(text)).decode("ascii")
            except ValueError:
                raise OtlpDecodeError(f"{where}.{name} is not hex: OTLP/JSON ids are hex") from None


def _snake(camel: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)


def _items(node: dict[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    value = node.get(key, node.get(_snake(key)))
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise OtlpDecodeError(f"{where}.{key}".lstrip(".") + " must be an array of objects")
    return value


def _parse_json(body: bytes) -> ExportTraceServiceRequest:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OtlpDecodeError(f"body is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise OtlpDecodeError("OTLP/JSON body must be an object")
    for r, resource_spans in enumerate(_items(document, "resourceSpans", "")):
        where_r = f"resourceSpans[{r}]"
        for s, scope_spans in enumerate(_items(resource_spans, "scopeSpans", where_r)):
            where_s = f"{where_r}.scopeSpans[{s}]"
            for i, span in enumerate(_items(scope_spans, "spans", where_s)):
                where = f"{where_s}.spans[{i}]"
                _hex_ids_to_base64(span, ("traceId", "spanId", "parentSpanId"), where)
                for j, link in enumerate(_items(span, "links", where)):
                    _hex_ids_to_base64(link, ("traceId", "spanId"), f"{where}.links[{j}]")
    message = ExportTraceServiceRequest()
    try:
        # OTLP/JSON receivers must ignore unknown fields (forward compatibility).
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise OtlpDecodeError(f"not an OTLP/JSON ExportTraceServiceRequest: {exc}") from None
    return message


def inflate(body: bytes, encoding: str, limit: int) -> bytes:
    """Undo Content-Encoding gzip or deflate, refusing output larger than limit bytes."""
    inflater = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
    try:
        plain = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise OtlpDecodeError(f"body is not valid {encoding}: {exc}") from None
    if len(plain) > limit:
        raise OtlpDecodeError(f"{encoding} body inflates to more than {limit} bytes")
    if not inflater.eof:
        raise OtlpDecodeError(f"{encoding} body is truncated")
    return plain


def parse_request(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    """Parse an (already decompressed) export body; raise OtlpDecodeError if it is invalid."""
    if content_type == JSON:
        return _parse_json(body)
    message = ExportTraceServiceRequest()
    try:
        message.ParseFromString(body)
    except (DecodeError, RecursionError) as exc:
        raise OtlpDecodeError(f"not a protobuf ExportTraceServiceRequest: {exc}") from None
    return message


def spans_from_request(
    request: ExportTraceServiceRequest, *, ingestion_version: str | None, received_at: float
) -> list[SpanRecord]:
    """Flatten an export into span records; raise OtlpDecodeError on malformed ids."""
    records: list[SpanRecord] = []
    for resource_spans in request.resource_spans:
        resource_attributes = decode_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = ScopeRecord(name=scope_spans.scope.name, version=scope_spans.scope.version)
            for span in scope_spans.spans:
                parent = _check_id(span.parent_span_id, 8, "parent_span_id", optional=True)
                records.append(
                    SpanRecord(
                        trace_id=_check_id(span.trace_id, 16, "trace_id"),
                        span_id=_check_id(span.span_id, 8, "span_id"),
                        parent_span_id=parent or None,
                        name=span.name,
                        kind=_enum_name(Span.SpanKind, span.kind),
                        start_time_unix_nano=span.start_time_unix_nano,
                        end_time_unix_nano=span.end_time_unix_nano,
                        status=StatusRecord(
                            code=_enum_name(Status.StatusCode, span.status.code),
                            message=span.status.message,
                        ),
                        attributes=decode_attributes(span.attributes),
                        events=[
                            EventRecord(
                                name=event.name,
                                time_unix_nano=event.time_unix_nano,
                                attributes=decode_attributes(event.attributes),
                            )
                            for event in span.events
                        ],
                        links=[
                            LinkRecord(
                                trace_id=_check_id(link.trace_id, 16, "link trace_id"),
                                span_id=_check_id(link.span_id, 8, "link span_id"),
                                attributes=decode_attributes(link.attributes),
                            )
                            for link in span.links
                        ],
                        resource_attributes=resource_attributes,
                        scope=scope,
                        ingestion_version=ingestion_version,
                        received_at=received_at,
                    )
                )
    return records


def empty_response(content_type: str) -> bytes:
    """A serialized empty ExportTraceServiceResponse in the request's encoding."""
    response = ExportTraceServiceResponse()
    if content_type == JSON:
        return json_format.MessageToJson(response).encode()
    return response.SerializeToString()
