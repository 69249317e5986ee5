"""The ci platform's workloads, run from their rendered manifests as containers, end to end.

The test-redis and platform charts are rendered for ci (platform_deploy), with the Secrets
generated for a ci cluster; each Deployment runs through the translator in workloads.py on
a network of this test's own. Langfuse web is the one thing not rendered (its chart runs
Langfuse's own images): the Langfuse OTLP receiver stand-in answers under its Service name.
Through that platform: completions via the gateway container reach the emulator container,
the trace reaches the receiver, a bad key is refused, the Redis rate limiter refuses an
over-limit client, and SIGTERM lets an in-flight stream finish.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from devstack.langfuse_receiver.client import ReceiverClient
from platform_deploy.config.environments import load_environments
from platform_deploy.config.inventory import load_inventory
from platform_deploy.config.versions import load_versions
from platform_deploy.engine.generated_secrets import generate
from platform_deploy.helm.binary import locked_helm
from platform_deploy.helm.client import Helm
from platform_deploy.rendering import render_environment
from tests.e2e import stand_ins, workloads
from tests.e2e.conftest import BuiltImages, Stages
from tests.e2e.docker_cli import docker
from tests.e2e.images import RECEIVER_IMAGE
from tests.e2e.platform_containers import (
    ContainerNetwork,
    config_map_data,
    deployments,
    receiver_run,
    services,
    with_extra_client,
)

pytestmark = pytest.mark.e2e

RATE_LIMITED_CLIENT = "e2e-rate-limited"
RATE_LIMIT_RPM = 2
LANGFUSE_NOT_RENDERED = "the container tier runs the OTLP receiver stand-in for Langfuse web"


@dataclass
class Platform:
    network: ContainerNetwork
    gateway: str
    emulator: str
    receiver: ReceiverClient
    redis_container: str
    gateway_container: str
    client_key: str = field(repr=False)
    limited_key: str = field(repr=False)


def _secret_data() -> tuple[dict[tuple[str, str], dict[str, str]], str, str]:
    """(namespace, Secret) -> key -> value for every ci Secret, generated for this run as the
    deploy engine generates them, with one client added to the clients file: a client of
    RATE_LIMIT_RPM requests a minute, for the rate-limit test. Also the generated test
    client's key and the added client's key."""
    inventory = load_inventory()
    generated = generate(inventory, secrets.token_bytes)
    data: dict[tuple[str, str], dict[str, str]] = {}
    for spec in inventory.in_environment("ci"):
        values = {key: generated.value(spec.name, key) for key in generated.keys(spec.name)}
        for namespace in spec.namespaces_in("ci"):
            data[(namespace, spec.name)] = dict(values)
    clients = data[("default", "gateway-clients")]
    clients["clients.json"], limited_key = with_extra_client(
        clients["clients.json"], RATE_LIMITED_CLIENT, ["claude-sonnet"], RATE_LIMIT_RPM
    )
    return data, generated.value("gateway-test-client", "api-key"), limited_key


@pytest.fixture(scope="module")
def platform(
    built_images: BuiltImages, stages: Stages, say: Callable[[str], None], run_dir: Path
) -> Iterator[Platform]:
    environment = load_environments()["ci"]
    with stages.timed("render ci charts") as detail:
        render = render_environment(
            Helm(locked_helm()),
            environment,
            load_inventory(),
            load_versions().kubernetes,
            {},
            LANGFUSE_NOT_RENDERED,
        )
        manifests = render.releases["redis"] + render.releases["platform"]
        detail.append(
            f"{len(deployments(manifests))} Deployments, {len(services(manifests))} Services"
        )
    secret_data, client_key, limited_key = _secret_data()
    redis_rendered = next(
        str(d["spec"]["template"]["spec"]["containers"][0]["image"])
        for d in deployments(render.releases["redis"])
    )
    with stages.timed("redis image") as detail:
        redis = stand_ins.redis_image(redis_rendered, say)
        detail.append(redis.reference + (f" (STAND-IN: {redis.why})" if redis.stand_in else ""))
    substitutes = {redis_rendered: redis.reference} if redis.stand_in else {}
    prefix = f"e2e-{secrets.token_hex(3)}"
    runs = [
        workloads.translate(
            d, services(manifests), secret_data, config_map_data(manifests), substitutes, prefix
        )
        for d in deployments(manifests)
    ]
    for deployment, run in zip(deployments(manifests), runs, strict=True):
        image_user = docker("image", "inspect", "--format", "{{.Config.User}}", run.image)
        problem = workloads.run_as_non_root_problem(
            run, image_user, workloads.runs_as_non_root(deployment)
        )
        assert problem is None, problem
    # Langfuse web's Service, as the deploy engine's verification reaches it in ci.
    langfuse = environment.deploy.verify.langfuse_service
    assert langfuse is not None, "deploy/environments.yaml names no Langfuse web Service for ci"
    receiver = receiver_run(
        RECEIVER_IMAGE,
        prefix,
        (langfuse.namespace, langfuse.service, langfuse.port),
        secret_data[(langfuse.namespace, "langfuse-credentials")],
    )
    provided = workloads.provided_ports(runs, services(manifests))
    for alias in receiver.aliases:
        provided.setdefault(alias, set()).add(langfuse.port)
    unresolved = workloads.unresolved_hosts(runs, provided)
    assert unresolved == [], "\n".join(unresolved)

    network = ContainerNetwork(prefix, say)
    try:
        with stages.timed("start the platform's containers") as detail:
            network.create()
            for run in [receiver, *runs]:
                network.start(run)
            for workload in network.started:
                took = network.wait_ready(workload)
                detail.append(f"{workload.split(' ')[0]} ready in {took:.0f} s")
        by_name = {run.workload: network.started[run.workload] for run in [receiver, *runs]}
        yield Platform(
            network=network,
            gateway=by_name["default/gateway"].url(),
            emulator=by_name["default/provider-emulator"].url(),
            receiver=ReceiverClient(by_name[receiver.workload].url()),
            redis_container=by_name["default/redis"].run.name,
            gateway_container=by_name["default/gateway"].run.name,
            client_key=client_key,
            limited_key=limited_key,
        )
    finally:
        logs = network.keep_logs(run_dir / "logs")
        say(f"container logs kept in {logs.relative_to(run_dir.parents[2])}")
        network.remove()


def _call(
    platform: Platform,
    body: dict[str, Any],
    key: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(  # noqa: S310 (the gateway's published loopback port)
        platform.gateway + "/v1/chat/completions",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {platform.client_key if key is None else key}",
            **(headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status), _lower(response.headers.items()), response.read()
    except urllib.error.HTTPError as error:
        return error.code, _lower(error.headers.items()), error.read()


def _lower(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers}


def _emulator_requests(platform: Platform) -> list[dict[str, Any]]:
    with urllib.request.urlopen(platform.emulator + "/_emulator/requests", timeout=10) as answer:  # noqa: S310
        found: list[dict[str, Any]] = json.load(answer)
        return found


def _chat(content: str, model: str = "claude-sonnet", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


def _addresses(env: dict[str, str]) -> str:
    """A container's URL settings, for a failure message (names and hosts; no userinfo)."""
    shown = []
    for name, value in sorted(env.items()):
        if "://" in value:
            parts = urllib.parse.urlsplit(value)
            shown.append(f"{name}={parts.scheme}://{parts.hostname}:{parts.port}{parts.path}")
    return ", ".join(shown) or "none"


def test_the_gateway_reaches_litellm_and_redis(platform: Platform) -> None:
    """The gateway's /readyz reports its dependencies as it sees them (it probes every few
    seconds); both must be up on the platform's own network."""
    deadline = time.monotonic() + 30
    while True:
        with urllib.request.urlopen(platform.gateway + "/readyz", timeout=5) as answer:  # noqa: S310
            state: dict[str, str] = json.load(answer)
        down = sorted(name for name in ("litellm", "redis") if state.get(name) != "up")
        if not down or time.monotonic() > deadline:
            break
        time.sleep(1)
    gateway = platform.network.started["default/gateway"].run
    assert not down, (
        f"default/gateway cannot reach {' and '.join(down)} (its /readyz: {state}); the URL "
        f"settings it got from the render: {_addresses(dict(gateway.env))}"
    )


def test_a_completion_goes_through_the_gateway_to_the_emulator(platform: Platform) -> None:
    before = len(_emulator_requests(platform))
    status, _, body = _call(platform, _chat("Hello from the container tier"))
    assert status == 200, body[:500]
    answer = json.loads(body)
    assert answer["choices"][0]["message"]["content"]
    after = _emulator_requests(platform)
    assert len(after) == before + 1
    assert after[-1]["api"] == "anthropic", after[-1]
    assert after[-1]["status"] == 200, after[-1]


def test_a_streamed_completion_arrives_chunk_by_chunk(platform: Platform) -> None:
    status, headers, body = _call(
        platform, _chat("Stream, please", model="groq-llama", stream=True)
    )
    assert status == 200, body[:500]
    assert headers.get("content-type", "").startswith("text/event-stream")
    events = [line for line in body.decode().splitlines() if line.startswith("data: ")]
    assert len(events) > 2, events
    assert events[-1] == "data: [DONE]", events[-3:]


def test_the_trace_reaches_langfuse_with_session_user_tokens_and_cost(platform: Platform) -> None:
    session = f"e2e-{secrets.token_hex(4)}"
    status, _, body = _call(
        platform, _chat("Trace me"), headers={"X-Session-Id": session, "X-User-Id": "e2e-user"}
    )
    assert status == 200, body[:500]
    usage = json.loads(body)["usage"]
    (span,) = platform.receiver.wait_for_spans(attribute="session.id", value=session, timeout=60)
    attributes = span["attributes"]

    def decoded(name: str) -> Any:
        value = attributes[name]
        return json.loads(value) if isinstance(value, str) and value[:1] in "{[" else value

    assert attributes["user.id"] == "e2e-user"
    assert decoded("langfuse.observation.type") == "generation"
    tokens = decoded("langfuse.observation.usage_details")
    assert tokens["input"] == usage["prompt_tokens"]
    assert tokens["output"] == usage["completion_tokens"]
    assert decoded("langfuse.observation.cost_details")["total"] > 0


def test_a_bad_key_is_refused(platform: Platform) -> None:
    status, _, _ = _call(platform, _chat("Who am I?"), key="sk-gw-" + secrets.token_urlsafe(32))
    assert status == 401


def test_the_redis_rate_limiter_refuses_an_over_limit_client(platform: Platform) -> None:
    statuses = []
    for _ in range(RATE_LIMIT_RPM + 1):
        status, headers, _ = _call(platform, _chat("Count me"), key=platform.limited_key)
        statuses.append(status)
    assert statuses == [200] * RATE_LIMIT_RPM + [429], statuses
    assert int(headers["retry-after"]) > 0
    # The count lives in the Redis container, not in the gateway's memory.
    keys = docker(
        "exec",
        platform.redis_container,
        "redis-cli",
        "--scan",
        "--pattern",
        f"*{RATE_LIMITED_CLIENT}*",
    )
    assert keys.split(), f"no rate-limit key for {RATE_LIMITED_CLIENT} in Redis"


_CONNECT = (
    "import socket, sys\n"
    "try:\n"
    "    socket.create_connection((sys.argv[1], 443), timeout=5).close()\n"
    "    print('connected')\n"
    "except OSError as error:\n"
    "    print(f'refused: {error}')\n"
)


def test_the_containers_have_no_route_beyond_their_network(platform: Platform) -> None:
    """The package index the builds used is reachable from a container on Docker's default
    network, and not from the platform's: the test network has no way out."""
    address = socket.gethostbyname("pypi.org")
    emulator = platform.network.started["default/provider-emulator"].run
    control = docker(
        "run",
        "--rm",
        "--pull=never",
        "--entrypoint",
        "python",
        emulator.image,
        "-c",
        _CONNECT,
        address,
    )
    if control != "connected":
        pytest.skip(
            f"no outside address answers a container here either ({control}): nothing to tell apart"
        )
    inside = docker("exec", emulator.name, "python", "-c", _CONNECT, address)
    assert inside.startswith("refused"), f"a platform container reached {address}:443"


def test_sigterm_lets_an_in_flight_stream_finish(platform: Platform) -> None:
    """Last in this module: it stops the gateway container."""
    result: dict[str, Any] = {}
    first_chunk = threading.Event()

    def stream() -> None:
        body = _chat("Take your time [[emulator:chunk_delay_ms=400]]", stream=True)
        request = urllib.request.Request(  # noqa: S310
            platform.gateway + "/v1/chat/completions",
            data=json.dumps(body).encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {platform.client_key}",
            },
        )
        lines = []
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            for raw in response:
                if raw.startswith(b"data: "):
                    lines.append(raw.decode().strip())
                    first_chunk.set()
        result["events"] = lines

    reader = threading.Thread(target=stream)
    reader.start()
    assert first_chunk.wait(60), "the stream sent no first chunk"
    docker("kill", "--signal", "TERM", platform.gateway_container)
    signalled = time.monotonic()
    reader.join(120)
    assert not reader.is_alive(), "the stream did not finish after SIGTERM"
    events = result.get("events", [])
    assert events, "the stream delivered no event"
    assert events[-1] == "data: [DONE]", events[-3:]
    docker("wait", platform.gateway_container, timeout=60)
    exit_code = docker("inspect", "--format", "{{.State.ExitCode}}", platform.gateway_container)
    assert exit_code == "0", f"the gateway exited with {exit_code} after SIGTERM"
    assert time.monotonic() - signalled < 30
