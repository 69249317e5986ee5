"""The verification report, decided over the answers of the cluster, the gateway and
Langfuse's public API: pure functions over their JSON, so every rule is unit-tested.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from platform_deploy.config.deploy_settings import Probe


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def rollout_check(workload: Mapping[str, Any]) -> Check:
    """A Deployment or StatefulSet (API JSON) is ready: the controller has seen the latest
    spec, and every desired replica is updated and ready."""
    metadata = workload.get("metadata") or {}
    spec = workload.get("spec") or {}
    status = workload.get("status") or {}
    name = f"rollout {workload.get('kind')} {metadata.get('namespace')}/{metadata.get('name')}"
    desired = int(spec.get("replicas", 1))
    ready = int(status.get("readyReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    observed = int(status.get("observedGeneration") or 0)
    if observed < int(metadata.get("generation") or 0):
        return Check(name, False, "the controller has not yet seen the latest spec")
    if ready < desired or updated < desired:
        return Check(name, False, f"{ready}/{desired} ready, {updated}/{desired} updated")
    return Check(name, True, f"{ready}/{desired} ready")


def completion_check(status: int, body: Mapping[str, Any] | None) -> Check:
    name = "chat completion through the gateway"
    if status != 200 or body is None:
        return Check(name, False, f"HTTP {status}")
    choices = body.get("choices") or []
    content = ((choices[0] if choices else {}).get("message") or {}).get("content")
    if not content:
        return Check(name, False, "HTTP 200 without an answer")
    usage = body.get("usage") or {}
    return Check(
        name, True, f"HTTP 200, model {body.get('model')}, {usage.get('total_tokens')} tokens"
    )


def failing_request_check(status: int) -> Check:
    # The gateway passes an upstream failure on as an error status: anything but a success.
    ok = status >= 400
    return Check("deliberately failing request is refused", ok, f"HTTP {status}")


def _generation_gaps(observation: Mapping[str, Any]) -> list[str]:
    gaps = []
    if not observation.get("model"):
        gaps.append("model")
    usage = observation.get("usageDetails") or observation.get("usage") or {}
    if not any(isinstance(v, (int, float)) and v > 0 for k, v in usage.items() if k != "unit"):
        gaps.append("usage")
    cost = observation.get("calculatedTotalCost")
    if cost is None:
        cost = (observation.get("costDetails") or {}).get("total")
    if not isinstance(cost, (int, float)) or cost <= 0:
        gaps.append("cost > 0")
    latency = observation.get("latency")
    if latency is None and observation.get("startTime") and observation.get("endTime"):
        latency = "from start and end"
    if latency is None:
        gaps.append("latency")
    return gaps


def trace_check(
    session_id: str, traces: Mapping[str, Any], observations: Mapping[str, Any] | None
) -> Check:
    """GET /api/public/traces?sessionId=... and /api/public/observations?traceId=...:
    a trace of this session holding a generation with model, usage, cost > 0 and latency."""
    name = "trace in Langfuse with a complete generation"
    found = [t for t in traces.get("data") or [] if t.get("sessionId") == session_id]
    if not found:
        return Check(name, False, f"no trace of session {session_id} yet")
    generations = [
        o for o in (observations or {}).get("data") or [] if o.get("type") == "GENERATION"
    ]
    if not generations:
        return Check(name, False, f"trace {found[0].get('id')} has no generation")
    gaps = {g.get("id"): _generation_gaps(g) for g in generations}
    complete = [gid for gid, missing in gaps.items() if not missing]
    if not complete:
        missing = sorted({gap for m in gaps.values() for gap in m})
        return Check(name, False, f"generation lacks {', '.join(missing)}")
    best = next(g for g in generations if g.get("id") == complete[0])
    cost = best.get("calculatedTotalCost") or (best.get("costDetails") or {}).get("total")
    return Check(name, True, f"trace {found[0].get('id')}: {best.get('model')}, cost {cost}")


def error_observation_check(session_id: str, observations: Mapping[str, Any] | None) -> Check:
    name = "failing request left an ERROR observation"
    errors = [o for o in (observations or {}).get("data") or [] if o.get("level") == "ERROR"]
    if not errors:
        return Check(name, False, f"no ERROR observation in session {session_id}'s trace")
    return Check(name, True, str(errors[0].get("statusMessage") or "level ERROR")[:80])


# A probe pod is new, and the NetworkPolicy controller (k3s: kube-router) admits a pod only
# once it has put the pod's address into its rules: a first connection can leave before that
# and be refused. So an "expect open" probe retries a refused (or timed-out) connection from
# the same pod, whose address the controller has had longer each time, up to this bound,
# before it counts as closed. A "closed" probe connects once: a connection fails it at once,
# a refusal passes it, and a retry could only ever turn the first into the second.
PROBE_CONNECT_TIMEOUT_S = 5
OPEN_PROBE_ATTEMPTS = 5
OPEN_PROBE_PAUSE_S = 2

# The probe pod's command (busybox sh and nc). $1 host, $2 port, $3 attempts, $4 pause:
# exit 0 at the first connection, else nc's status after the last attempt.
_PROBE_SCRIPT = f"""attempt=1
while true; do
  nc -z -w {PROBE_CONNECT_TIMEOUT_S} "$1" "$2" && exit 0
  status=$?
  [ "$attempt" -ge "$3" ] && exit "$status"
  attempt=$((attempt + 1))
  sleep "$4"
done
"""


def probe_attempts(probe: Probe) -> int:
    return OPEN_PROBE_ATTEMPTS if probe.expect == "open" else 1


def probe_command(probe: Probe) -> list[str]:
    """What the probe pod runs: one connection for "closed", retries for "open"."""
    arguments = [probe.host, str(probe.port), str(probe_attempts(probe)), str(OPEN_PROBE_PAUSE_S)]
    return ["sh", "-c", _PROBE_SCRIPT, "probe", *arguments]


def probe_seconds(probe: Probe) -> int:
    """The longest the probe's command runs: every attempt timing out, and the pauses."""
    attempts = probe_attempts(probe)
    return attempts * PROBE_CONNECT_TIMEOUT_S + (attempts - 1) * OPEN_PROBE_PAUSE_S


def probe_check(probe: Probe, exit_code: int | None, detail: str = "") -> Check:
    """The probe pod (probe_command) exits 0 when it connected; anything else is a refused
    or timed-out connection, after every attempt. A pod that never ran (None) fails the
    check whatever was expected."""
    name = f"network {probe.name} ({probe.host}:{probe.port} {probe.expect})"
    if exit_code is None:
        return Check(name, False, detail or "the probe pod did not finish")
    connected = exit_code == 0
    ok = connected == (probe.expect == "open")
    if connected:
        return Check(name, ok, "connected")
    attempts = probe_attempts(probe)
    tries = f" in {attempts} attempts" if attempts > 1 else ""
    return Check(name, ok, f"no connection{tries} (exit {exit_code})")


def render_table(checks: Sequence[Check]) -> list[str]:
    width = max((len(c.name) for c in checks), default=10)
    lines = [f"{'check':<{width}}  result  detail", f"{'-' * width}  ------  ------"]
    lines += [f"{c.name:<{width}}  {'PASS' if c.ok else 'FAIL':<6}  {c.detail}" for c in checks]
    failed = sum(not c.ok for c in checks)
    lines.append(f"{len(checks) - failed} passed, {failed} failed")
    return lines


def exit_code(checks: Sequence[Check]) -> int:
    return 0 if checks and all(c.ok for c in checks) else 1
