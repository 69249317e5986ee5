"""LiteLLM's documented settings that keep the seed's behaviour, each against the shipped config.

The seed's behaviour (shared/seed: docs of the platform this repository rebuilds): both
models served, `drop_params`, success and failure callbacks to Langfuse. A candidate is
kept only if it keeps all three (checked per candidate: `behaviour`) and measurably
lowers LiteLLM's CPU per request or its median latency (bench.pairs.verdict).

Each candidate runs as its own LiteLLM beside a fresh LiteLLM on the shipped config
(services/litellm/config.yaml), both started and warmed the same way, on the stack's
emulator and Langfuse receiver. They are measured in pairs at the same fixed rate,
alternating which goes first (A B, B A, ...) so that the machine drifting over the
minutes hits both alike; a figure is the median of the pairs' differences with their
range. Candidates come from LiteLLM's documentation for the locked version (1.110.2):
docs.litellm.ai/docs/proxy/prod ("Production Best Practices"),
docs.litellm.ai/docs/proxy/config_settings, docs.litellm.ai/docs/proxy/server_tuning.

Documented settings left out, and why (they change the seed's behaviour or what the
platform needs, or are measured elsewhere):
- litellm_settings.turn_off_message_logging: Langfuse would lose prompts and answers.
- litellm_settings.json_logs false: the cluster's log collector reads JSON lines.
- LITELLM_DISABLE_REDACT_SECRETS: keys could reach the logs.
- callbacks [] or network_mock: no Langfuse, or no upstream call at all.
- router_settings.routing_strategy: the default (simple-shuffle) already; one deployment
  per model leaves nothing to route between.
- litellm_settings.cache: answers would come from a cache.
- --num_workers, --run_granian: ways to run the server, stepped in `invoke bench`'s
  "Ways to run LiteLLM" (bench/__main__.py: LITELLM_SERVERS).
- --max_requests_before_restart, SEPARATE_HEALTH_APP: memory growth and probe isolation,
  not CPU per request (and the second only in LiteLLM's own image).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.loadgen import closed_loop
from bench.measure import LITELLM_SETTLE_S, Measure
from bench.pairs import summarize_pairs, to_pair
from bench.targets import litellm_request, litellm_variant
from devstack.langfuse_receiver import ReceiverClient
from devstack.processes import LOOPBACK, ManagedProcess
from devstack.stack import LITELLM_CONFIG, MODELS, LocalStack
from platform_deploy.helm.values import coalesce


@dataclass(frozen=True)
class Candidate:
    name: str
    documented: str  # where LiteLLM documents it
    expect: str  # what it could save per request
    config: Mapping[str, Any] = field(default_factory=dict)  # merged into config.yaml
    env: Mapping[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()


CANDIDATES = (
    Candidate(
        "log-level-warning",
        "docs/proxy/prod: turn off FastAPI's default info logs, LITELLM_LOG",
        "the per-request access log line (JSON-formatted and secret-filtered); WARNING, not "
        "the documented ERROR, keeps the callback's warnings (spans dropped)",
        env={"LITELLM_LOG": "WARNING"},
    ),
    Candidate(
        "no-spend-and-error-logs",
        "docs/proxy/prod: optional best practices, disable_spend_logs, disable_error_logs",
        "building spend-log rows per request; without a database maybe nothing",
        config={"general_settings": {"disable_spend_logs": True, "disable_error_logs": True}},
    ),
    Candidate(
        "no-end-user-cost-tracking",
        "docs/proxy/config_settings: litellm_settings.disable_end_user_cost_tracking",
        "end-user cost tracking for Prometheus and spend logs, neither of which runs here",
        config={"litellm_settings": {"disable_end_user_cost_tracking": True}},
    ),
    Candidate(
        "no-aiohttp-transport",
        "docs/proxy/config_settings: environment variable DISABLE_AIOHTTP_TRANSPORT",
        "httpx's own transport upstream instead of LiteLLM's aiohttp transport",
        env={"DISABLE_AIOHTTP_TRANSPORT": "True"},
    ),
    Candidate(
        "production-mode",
        "docs/proxy/prod: disable load_dotenv, LITELLM_MODE=PRODUCTION",
        "nothing per request (start-up only): a control for the comparison's noise",
        env={"LITELLM_MODE": "PRODUCTION"},
    ),
)
ALL_NAME = "all-of-the-above"


def combined(candidates: Sequence[Candidate]) -> Candidate:
    """Every candidate at once: whether small gains add up."""
    config: dict[str, Any] = {}
    env: dict[str, str] = {}
    for candidate in candidates:
        config = coalesce(config, candidate.config)
        env |= candidate.env
    return Candidate(
        ALL_NAME,
        "each of the above",
        "the sum of the above",
        config,
        env,
        tuple(a for c in candidates for a in c.args),
    )


def select(names: str) -> list[Candidate]:
    """`all` (every candidate, then all of them at once), `none`, or comma-separated names."""
    if names == "none":
        return []
    if names == "all":
        return [*CANDIDATES, combined(CANDIDATES)]
    known = {c.name: c for c in CANDIDATES} | {ALL_NAME: combined(CANDIDATES)}
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in known]
    if unknown:
        raise ValueError(f"unknown LiteLLM settings {unknown}; known: {sorted(known)}")
    return [known[n] for n in chosen]


def write_config(candidate: Candidate, run_dir: Path, shipped: Path = LITELLM_CONFIG) -> Path:
    """The shipped config with the candidate's settings merged in (only os.environ/
    references in it, no secret values)."""
    config = coalesce(yaml.safe_load(shipped.read_text()), candidate.config)
    path = run_dir / f"litellm-{candidate.name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# -- behaviour ----------------------------------------------------------------------------

COST_ATTRIBUTE = "langfuse.observation.cost_details"
MODEL_ATTRIBUTE = "langfuse.observation.model.name"


def _cost_total(value: Any) -> float:
    if isinstance(value, str):
        value = json.loads(value)  # a JSON object in a string attribute
    return float(value.get("total", 0.0)) if isinstance(value, Mapping) else 0.0


def behaviour(url: str, master_key: str, receiver: ReceiverClient, label: str) -> dict[str, Any]:
    """Both models answer a request carrying a parameter Anthropic does not take (so
    drop_params must drop it), and each request's span reaches Langfuse: which attributes
    it has, and whether its cost is above zero."""
    session = f"bench-settings-{label}-{time.time_ns()}"
    statuses = {}
    for model in MODELS:
        request = litellm_request(url, master_key, model, session=session, presence_penalty=0.1)
        samples, _ = asyncio.run(closed_loop(request, 1, 1))
        statuses[model] = samples[0].status
    deadline = time.monotonic() + 15  # the callback flushes about once a second
    spans: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        spans = receiver.spans(attribute="session.id", value=session)
        if len({s["span_id"] for s in spans}) >= len(MODELS):
            break
        time.sleep(0.5)
    by_model = {str(s["attributes"].get(MODEL_ATTRIBUTE)): s["attributes"] for s in spans}
    return {
        "statuses": statuses,
        "spans": len({s["span_id"] for s in spans}),
        "attributes": {m: sorted(a) for m, a in sorted(by_model.items())},
        "cost_above_zero": {
            m: _cost_total(a.get(COST_ATTRIBUTE)) > 0 for m, a in sorted(by_model.items())
        },
    }


def behaviour_kept(candidate: Mapping[str, Any], baseline: Mapping[str, Any]) -> list[str]:
    """What the candidate no longer does that the shipped config does (nothing: kept)."""
    problems = [
        f"{model} answered {status}"
        for model, status in candidate["statuses"].items()
        if status != 200
    ]
    if candidate["spans"] < len(MODELS):
        problems.append(f"{candidate['spans']} of {len(MODELS)} spans reached Langfuse")
    if candidate["attributes"] != baseline["attributes"]:
        problems.append("the spans' attributes differ from the shipped config's")
    if candidate["cost_above_zero"] != baseline["cost_above_zero"]:
        problems.append("a span's cost differs from the shipped config's (zero or missing)")
    return problems


# -- the comparison -----------------------------------------------------------------------


@dataclass
class Comparison:
    stack: LocalStack
    litellm_bin: Path
    measure: Measure
    rate: float
    duration_s: float
    pairs: int

    def _start(self, name: str, candidate: Candidate | None) -> tuple[ManagedProcess, int]:
        if candidate is None:  # the shipped config, exactly as committed
            process, port = litellm_variant(self.stack, self.litellm_bin, name)
        else:
            process, port = litellm_variant(
                self.stack,
                self.litellm_bin,
                name,
                candidate.args,
                config=write_config(candidate, self.stack.run_dir),
                extra_env=candidate.env,
            )
        process.start(ready_timeout=90)
        return process, port

    def run(self, candidate: Candidate) -> dict[str, Any]:
        started: list[ManagedProcess] = []
        try:
            try:
                shipped, shipped_port = self._start(f"shipped-vs-{candidate.name}", None)
                started.append(shipped)
                tried, tried_port = self._start(candidate.name, candidate)
                started.append(tried)
            except Exception as error:  # a setting that does not start is a result too
                return {"error": str(error).splitlines()[0], "verdict": "does not start"}
            return self._measure(candidate, (shipped, shipped_port), (tried, tried_port))
        finally:
            for process in started:
                self.measure.meter.forget(process.name)
                process.stop()

    def _measure(
        self,
        candidate: Candidate,
        shipped: tuple[ManagedProcess, int],
        tried: tuple[ManagedProcess, int],
    ) -> dict[str, Any]:
        key = self.stack.secrets.litellm_master_key
        receiver = ReceiverClient(self.stack.receiver_url)
        urls = {p.name: f"http://{LOOPBACK}:{port}" for p, port in (shipped, tried)}
        for process, _ in (shipped, tried):
            self.measure.meter.track(process.name, process)
            # Warm both alike: a cold worker's first requests are not its speed.
            asyncio.run(closed_loop(litellm_request(urls[process.name], key), 4, 40))
        checks = {
            process.name: behaviour(urls[process.name], key, receiver, process.name)
            for process, _ in (shipped, tried)
        }
        problems = behaviour_kept(checks[tried[0].name], checks[shipped[0].name])
        pairs = []
        for index in range(self.pairs):
            runs = {}
            order = (shipped, tried) if index % 2 == 0 else (tried, shipped)
            for process, _ in order:
                runs[process.name] = self.measure.open(
                    f"LiteLLM settings {candidate.name}, pair {index + 1}: {process.name}",
                    litellm_request(urls[process.name], key),
                    self.rate,
                    self.duration_s,
                    settle_s=LITELLM_SETTLE_S,
                )
            pairs.append(
                to_pair(
                    runs[shipped[0].name], runs[tried[0].name], (shipped[0].name, tried[0].name)
                )
            )
        return summarize_pairs(pairs, problems) | {
            "documented": candidate.documented,
            "expect": candidate.expect,
            "config": dict(candidate.config),
            "env": dict(candidate.env),
            "args": list(candidate.args),
            "behaviour": checks[tried[0].name],
            "shipped_behaviour": checks[shipped[0].name],
        }
