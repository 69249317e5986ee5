"""Prometheus metrics, in a registry of the gateway's own (no process-global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Seconds. The low buckets resolve the gateway's own overhead (well under a millisecond);
# the high ones cover LLM calls that take minutes.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.1)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "gateway_requests",
            "Requests by client, model and status.",
            ["client", "model", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "gateway_request_duration_seconds",
            "Whole request as the caller sees it.",
            ["client", "model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_latency = Histogram(
            "gateway_upstream_duration_seconds",
            "Waiting for LiteLLM (to the first byte).",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.overhead = Histogram(
            "gateway_overhead_seconds",
            "Time spent in the gateway itself.",
            buckets=OVERHEAD_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "gateway_requests_in_flight", "LLM calls being served now.", registry=r
        )
        self.rate_limited = Counter(
            "gateway_rate_limited",
            "Requests refused by a rate limit.",
            ["client", "limit"],
            registry=r,
        )
        self.limiter_unavailable = Counter(
            "gateway_rate_limiter_unavailable",
            "Requests decided without the rate limiter because Redis was unreachable.",
            registry=r,
        )
        self.retries = Counter(
            "gateway_upstream_retries",
            "LiteLLM calls made again after the status of the one before (0: unreachable).",
            ["model", "status"],
            registry=r,
        )
        self.tokens = Counter(
            "gateway_tokens",
            "Tokens used: as the answer reported them, estimated for a stream cut off before.",
            ["client", "model", "kind"],
            registry=r,
        )
        self.dependency_up = Gauge(
            "gateway_dependency_up",
            "Whether LiteLLM or Redis answered the last probe.",
            ["dependency"],
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
