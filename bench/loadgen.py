"""An open-loop load generator: requests leave at a fixed rate, whatever the server does.

A closed loop (N in flight, send the next when one returns) slows down with the server
and hides its stalls; an open loop keeps sending, so a stall shows up as latency. Each
sample keeps both the scheduled and the actual send time: latency is measured from the
actual send, and the generator's own lag (how late it sent) is reported beside it.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass(frozen=True, slots=True)
class Sample:
    scheduled: float
    sent: float
    first_byte: float
    done: float
    status: int
    overhead_ms: float | None

    @property
    def latency_s(self) -> float:
        return self.done - self.sent

    @property
    def ttfb_s(self) -> float:
        return self.first_byte - self.sent


@dataclass(frozen=True)
class Request:
    url: str
    body: bytes
    headers: Mapping[str, str]
    stream: bool = False


async def _one(
    session: aiohttp.ClientSession, request: Request, scheduled: float, timeout_s: float
) -> Sample:
    sent = time.perf_counter()
    first = done = sent
    status, overhead = 0, None
    try:
        async with (
            asyncio.timeout(timeout_s),
            session.post(request.url, data=request.body, headers=request.headers) as response,
        ):
            status = response.status
            header = response.headers.get("x-gateway-overhead-ms")
            overhead = float(header) if header else None
            first = 0.0
            async for _chunk in response.content.iter_any():
                first = first or time.perf_counter()
            done = time.perf_counter()
            first = first or done
    except (TimeoutError, aiohttp.ClientError, OSError):
        status, first, done = -1, time.perf_counter(), time.perf_counter()
    return Sample(scheduled, sent, first, done, status, overhead)


def new_session(max_connections: int = 2048) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=max_connections, keepalive_timeout=30),
        timeout=aiohttp.ClientTimeout(total=None),
        auto_decompress=False,
    )


async def open_loop(
    request: Request,
    rate: float,
    duration_s: float,
    timeout_s: float = 10.0,
    warmup: int = 8,
    on_start: Callable[[], object] | None = None,
) -> list[Sample]:
    """Send `rate` requests a second for `duration_s` seconds; wait for all to finish.

    `warmup` requests go first, unmeasured, so the first samples do not measure
    connection set-up; `on_start` is called after them, as the measured requests begin
    (the bench samples CPU time there, so that the warm-up is not counted)."""
    count = max(1, int(rate * duration_s))
    async with new_session() as session:
        await asyncio.gather(*(_one(session, request, time.perf_counter(), timeout_s)
                               for _ in range(min(warmup, count))))  # fmt: skip
        if on_start is not None:
            on_start()
        start = time.perf_counter() + 0.05
        tasks = []
        for i in range(count):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_one(session, request, scheduled, timeout_s)))
        return list(await asyncio.gather(*tasks))


async def closed_loop(
    request: Request, concurrency: int, count: int, timeout_s: float = 30.0
) -> tuple[list[Sample], float]:
    """`concurrency` callers, each sending its next request when the last returns."""
    samples: list[Sample] = []
    remaining = count

    async def caller(session: aiohttp.ClientSession) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            samples.append(await _one(session, request, time.perf_counter(), timeout_s))

    async with new_session() as session:
        started = time.perf_counter()
        await asyncio.gather(*(caller(session) for _ in range(concurrency)))
        return samples, time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summarize(samples: list[Sample], elapsed_s: float | None = None) -> dict[str, Any]:
    """Latency percentiles (ms), time to first byte, errors, throughput, generator lag."""
    ok = [s for s in samples if 200 <= s.status < 300]
    latencies = [s.latency_s * 1000 for s in ok]
    ttfbs = [s.ttfb_s * 1000 for s in ok]
    lags = [(s.sent - s.scheduled) * 1000 for s in samples]
    overheads = [s.overhead_ms for s in ok if s.overhead_ms is not None]
    span = elapsed_s or (max(s.done for s in samples) - min(s.sent for s in samples))
    summary: dict[str, Any] = {
        "requests": len(samples),
        "errors": len(samples) - len(ok),
        "throughput_rps": round(len(ok) / span, 1) if span > 0 else None,
    }
    for name, values in (("latency_ms", latencies), ("ttfb_ms", ttfbs)):
        summary[name] = {f"p{q}": round(percentile(values, q), 3) for q in (50, 95, 99)} | {
            "mean": round(statistics.fmean(values), 3) if values else None
        }
    summary["generator_lag_ms_p99"] = round(percentile(lags, 99), 3)
    if overheads:
        summary["gateway_overhead_header_ms"] = {
            f"p{q}": round(percentile(overheads, q), 3) for q in (50, 99)
        }
    return summary


def step_up(run_at: Callable[[float], dict[str, Any]], rates: tuple[float, ...]) -> Any:
    """Step the rate up until p99 passes 50 ms or requests fail, twice in a row.

    A step that misses is run once more before the ladder stops: on two shared cores one
    stall of the machine (it once hit nginx at 1300/s and not at 2000/s) would otherwise end
    the ladder. A step counts as held if either run held it; both runs are in the results.
    Every target is stepped by this one rule."""
    steps = []
    for rate in rates:
        result = run_at(rate) | {"rate": rate}
        if not _held(result):
            retry = run_at(rate) | {"rate": rate}
            kept, other = (retry, result) if _held(retry) else (result, retry)
            result = kept | {"first_run_missed": True, "other_run": other}
        steps.append(result)
        if not _held(result):
            break
    held = [s["rate"] for s in steps if _held(s)]
    return {"steps": steps, "highest_rate_p99_under_50ms": max(held, default=0)}


def _held(result: dict[str, Any]) -> bool:
    return not result["errors"] and result["latency_ms"]["p99"] < 50
