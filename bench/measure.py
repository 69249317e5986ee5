"""One measured open-loop run: latency from the load generator, CPU time from /proc.

Every run the bench makes goes through `Measure.open`, so each result carries the same
fields: the latency summary (bench.loadgen.summarize), `cpu` (bench.cpu.usage: CPU ms
per request of every tracked process group, steal, other processes' CPU) and `busy`
(why the machine was too busy for the run to mean much, or nothing)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from bench.cpu import CpuMeter, CpuSample, busy_reasons, usage
from bench.loadgen import Request, open_loop, summarize

# LiteLLM's Langfuse exporter sends a run's last spans about a second after its last
# request; waiting for them keeps that CPU time in the run that caused it.
LITELLM_SETTLE_S = 1.5


def log_progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Measure:
    def __init__(self, meter: CpuMeter, progress: Callable[[str], None] = log_progress) -> None:
        self.meter = meter
        self.progress = progress

    def open(
        self,
        label: str,
        request: Request,
        rate: float,
        duration_s: float,
        settle_s: float = 0.0,
        warmup: int = 8,
    ) -> dict[str, Any]:
        self.progress(
            f"{label}: {rate:g}/s for {duration_s:g} s{' (streaming)' if request.stream else ''}"
        )
        started: list[CpuSample] = []
        samples = asyncio.run(
            open_loop(
                request,
                rate,
                duration_s,
                warmup=warmup,
                on_start=lambda: started.append(self.meter.sample()),
            )
        )
        if settle_s:
            time.sleep(settle_s)
        result = summarize(samples) | {"rate": rate, "duration_s": duration_s}
        result["cpu"] = usage(started[0], self.meter.sample(), len(samples))
        result["busy"] = busy_reasons(result)
        return result

    def idle(self, duration_s: float) -> dict[str, Any]:
        """What each process group burns with no request at all (timers, the Langfuse
        exporter's flush, Redis's cron), in cores: bench.derive subtracts it, so that a
        figure at 20 requests/s is the requests' CPU and not the clock's."""
        self.progress(f"idle for {duration_s:g} s")
        before = self.meter.sample()
        time.sleep(duration_s)
        figures = usage(before, self.meter.sample(), requests=0)
        return {
            "elapsed_s": figures["elapsed_s"],
            "cores": figures["cores"],
            "others_cores": figures["others_cores"],
            "steal_pct": figures["steal_pct"],
        }
