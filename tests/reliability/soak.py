"""An open-loop load at a fixed rate: request i starts at t0 + i/rate whether or not the
earlier ones have finished, so a slow chain meets more concurrency, as it would in
production, instead of a closed loop quietly slowing down to match it.

Requests alternate between the models and between streaming and not; each is checked to
the end (a stream must finish with a finish_reason and [DONE], no error event), and its
answer must echo its own request number, so mixed-up responses count as failures too.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.reliability.chain import parse_stream, request_body

KINDS = (("claude-sonnet", False), ("groq-llama", True), ("groq-llama", False),
         ("claude-sonnet", True))  # fmt: skip
REQUEST_TIMEOUT_S = 30.0
SAMPLE_EVERY_S = 5.0


@dataclass
class SoakResult:
    rate: float
    duration_s: float
    planned: int
    sent: int = 0
    ok: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)
    max_start_lag_s: float = 0.0
    wall_s: float = 0.0
    samples: list[dict[str, float]] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    @property
    def achieved_rate(self) -> float:
        return self.sent / self.duration_s if self.duration_s else 0.0

    def latency_ms(self) -> dict[str, float]:
        if not self.latencies_s:
            return {}
        ordered = sorted(self.latencies_s)
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        return {
            "p50": round(statistics.median(ordered) * 1000, 1),
            "p99": round(p99 * 1000, 1),
            "max": round(ordered[-1] * 1000, 1),
        }


async def _check(response: aiohttp.ClientResponse, stream: bool, echo: str) -> str | None:
    """None when the answer is complete and is this request's own; else why not."""
    if response.status != 200:
        return f"status {response.status}"
    if stream:
        raw = (await response.read()).decode()
        payloads = [line[6:] for line in raw.splitlines() if line.startswith("data: ")]
        shape, _, text = parse_stream(payloads)
        if shape != "stream-complete":
            return shape
    else:
        body: dict[str, Any] = await response.json()
        choice = body["choices"][0]
        if choice.get("finish_reason") != "stop":
            return f"finish_reason {choice.get('finish_reason')}"
        text = choice["message"]["content"] or ""
    return None if echo in text else "someone else's answer"


async def _one(
    session: aiohttp.ClientSession, url: str, key: str, i: int, tag: str, result: SoakResult
) -> None:
    model, stream = KINDS[i % len(KINDS)]
    echo = f"{tag} request {i}."
    body = request_body(model, f"Soak {echo}", stream=stream)
    started = time.monotonic()
    try:
        async with session.post(url, json=body, headers={"Authorization": f"Bearer {key}"}) as r:
            problem = await _check(r, stream, echo)
    except (aiohttp.ClientError, TimeoutError) as error:
        problem = type(error).__name__
    result.latencies_s.append(time.monotonic() - started)
    if problem is None:
        result.ok += 1
    else:
        result.failures[problem] += 1


async def _sample(sample: Callable[[], dict[str, float]], result: SoakResult) -> None:
    while True:
        result.samples.append(sample())
        await asyncio.sleep(SAMPLE_EVERY_S)


async def _open_loop(
    gateway_url: str, key: str, rate: float, duration_s: float, tag: str,
    sample: Callable[[], dict[str, float]] | None,
) -> SoakResult:  # fmt: skip
    result = SoakResult(rate=rate, duration_s=duration_s, planned=int(rate * duration_s))
    url = f"{gateway_url}/v1/chat/completions"
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    # No connection limit: an open loop must not queue in its own client.
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        sampler = asyncio.create_task(_sample(sample, result)) if sample else None
        tasks: list[asyncio.Task[None]] = []
        t0 = time.monotonic()
        for i in range(result.planned):
            due = t0 + i / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            result.max_start_lag_s = max(result.max_start_lag_s, time.monotonic() - due)
            tasks.append(asyncio.create_task(_one(session, url, key, i, tag, result)))
            result.sent += 1
        await asyncio.gather(*tasks)
        result.wall_s = time.monotonic() - t0
        if sampler is not None:
            sampler.cancel()
            result.samples.append(sample() if sample else {})
    return result


def open_loop(
    gateway_url: str, key: str, *, rate: float, duration_s: float, tag: str,
    sample: Callable[[], dict[str, float]] | None = None,
) -> SoakResult:  # fmt: skip
    """Run the load to its end (every request finishes or times out after 30 s)."""
    return asyncio.run(_open_loop(gateway_url, key, rate, duration_s, tag, sample))
